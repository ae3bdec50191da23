"""Reads the float32 tensors of a safetensors file (what the C# bench writes for its references)."""

import json
import struct

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{name}: {entry['dtype']}"
        start, end = entry["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype=np.float32).reshape(entry["shape"]).copy())
    return tensors
