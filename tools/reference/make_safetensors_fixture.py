"""Writes tests/Learning.Tests/Fixtures/safetensors/python.safetensors, the fixture the .NET reader
is tested against. Uses the `safetensors` package when installed; otherwise an equivalent writer
(same layout as safetensors 0.4: tensors ordered by dtype alignment then name, compact JSON header
with __metadata__ first, space padding to 8 bytes). Run: python3 tools/reference/make_safetensors_fixture.py
"""
import json
import os
import struct
import sys

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Learning.Tests", "Fixtures", "safetensors", "python.safetensors")

# Values are exactly representable in their dtype, so the .NET test can compare for equality.
TENSORS = {
    "weights.f32": (torch.arange(6, dtype=torch.float32) * 0.25 - 0.5).reshape(2, 3),
    "weights.f64": torch.tensor([1.0 / 3.0, -2.5, 1e300], dtype=torch.float64),
    "half": torch.tensor([0.5, -1.0, 2.0, 1024.0], dtype=torch.float16),
    "bf": torch.tensor([[1.0, -2.0], [0.15625, 256.0]], dtype=torch.bfloat16),
    "ids": torch.tensor([-1, 0, 2 ** 40], dtype=torch.int64),
    "counts": torch.tensor([7, -8], dtype=torch.int32),
    "pixels": torch.tensor([[0, 1], [254, 255]], dtype=torch.uint8),
    "mask": torch.tensor([True, False, True]),
    "scalar": torch.tensor(3.5, dtype=torch.float32),
    "empty": torch.zeros(0, 4, dtype=torch.float32),
}
METADATA = {"format": "pt", "round": "3"}

DTYPES = {  # name, alignment rank as in safetensors' Dtype ordering
    torch.bool: ("BOOL", 0), torch.uint8: ("U8", 1), torch.int8: ("I8", 2), torch.int16: ("I16", 4),
    torch.float16: ("F16", 6), torch.bfloat16: ("BF16", 7), torch.int32: ("I32", 8),
    torch.float32: ("F32", 10), torch.float64: ("F64", 11), torch.int64: ("I64", 12),
}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write(path, tensors, metadata):
    order = sorted(tensors, key=lambda n: (-DTYPES[tensors[n].dtype][1], n))
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in order:
        data = raw_bytes(tensors[name])
        header[name] = {"dtype": DTYPES[tensors[name].dtype][0], "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    try:
        from safetensors.torch import save_file
        save_file(TENSORS, OUT, metadata=METADATA)
        print("written with the safetensors package:", OUT)
    except ImportError:
        write(OUT, TENSORS, METADATA)
        print("written with the built-in writer (safetensors package not installed):", OUT)


if __name__ == "__main__":
    sys.exit(main())
