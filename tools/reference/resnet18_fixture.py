"""Reference fixture for FedMM's ResNet-18 image encoder (resnet18).

Everything here is independent of FedMM's C# code: the input images are drawn here (numpy) and
written as PNG by the small writer below (zlib, no imaging library); the expected features come from
running the package's own two ONNX graphs, node by node, with the numpy interpreter below in float64:
ResNetPreprocess.onnx (RGB to BGR, less the mean image) on the RGB pixels in 0..255, then
ResNet18.onnx (to the pooled features [1, 512, 1, 1]). A grayscale PNG is read as its gray level in
each of R, G and B, as FedMM (and PIL's convert("RGB")) does.

Writes into OUT_DIR: the PNGs and resnet18_reference.json (the sha256 of both ONNX files in the
order FedMM hashes them, the image files, and the features [N, 512]).

Usage (Debian: apt-get install python3-onnx python3-numpy; the system /usr/bin/python3):
  python3 resnet18_fixture.py ~/.nuget/packages/microsoft.ml.dnnimagefeaturizer.resnet18/0.24.0/tools/DnnImageModels OUT_DIR
"""
import hashlib
import json
import os
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import numpy_helper

SIZE = 224


def images():
    """(file name, uint8 array [H, W, 3] or [H, W]) drawn deterministically."""
    rng = np.random.default_rng(20)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / (SIZE - 1)
    out = []
    # Colour gradients with a bright disc and a dark bar.
    a = np.stack([x, y, 1 - x * y], axis=-1) * 255
    a[(x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05] = [250, 240, 30]
    a[(np.abs(y - 0.75) < 0.05) & (x > 0.2)] = [20, 20, 90]
    out.append(("gradient_disc.png", a))
    # Stripes and a checkerboard, in two colours.
    b = np.zeros((SIZE, SIZE, 3))
    stripes = (np.sin(2 * np.pi * 9 * (x + 0.3 * y)) > 0)
    checker = ((np.floor(x * 8) + np.floor(y * 8)) % 2 == 0)
    b[..., 0] = np.where(stripes, 200, 40)
    b[..., 1] = np.where(checker & (y > 0.5), 180, 60)
    b[..., 2] = 120 + 100 * np.cos(2 * np.pi * 3 * x)
    out.append(("stripes_checker.png", b))
    # Low-resolution noise blown up in 8×8 blocks: edges in every direction.
    c = np.kron(rng.integers(0, 256, (SIZE // 8, SIZE // 8, 3)), np.ones((8, 8, 1)))
    out.append(("blocks.png", c))
    # A grayscale slice-like image: a bright ring with a dark core on a dark background.
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
    d = 30 + 200 * np.exp(-((r - 0.3) / 0.06) ** 2) + 60 * (r < 0.15) + 20 * np.sin(2 * np.pi * 5 * x)
    out.append(("gray_ring.png", d))
    return [(name, np.clip(np.round(v), 0, 255).astype(np.uint8)) for name, v in out]


def write_png(path, pixels):
    """An 8-bit RGB (colour type 2) or grayscale (0) PNG, rows with filter 'Up'."""
    height, width = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    rows = pixels.reshape(height, -1).astype(np.int16)
    up = np.vstack([rows[:1], rows[1:] - rows[:-1]]) % 256
    raw = b"".join(b"\x02" + bytes(up[i].astype(np.uint8)) for i in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def pad(x, pads, value):
    """ONNX pads [top, left, bottom, right] on [N, C, H, W]."""
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(x, kernel, stride):
    """[N, C, OH, OW, KH, KW] views of x for a kernel and stride, no padding."""
    n, c, h, w = x.shape
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kernel[0], kernel[1]), (s[0], s[1], s[2] * stride[0], s[3] * stride[1], s[2], s[3]))


def run_graph(graph, feeds):
    """Evaluates the ResNet graphs' operators (opset 8) in float64."""
    values = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in graph.initializer}
    values.update(feeds)
    for node in graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        x = [values[i] for i in node.input]
        op = node.op_type
        if op == "Conv":
            assert a.get("group", 1) == 1 and list(a.get("dilations", [1, 1])) == [1, 1] and len(x) == 2
            weight = x[1]
            patches = windows(np.ascontiguousarray(pad(x[0], a["pads"], 0.0)), weight.shape[2:], a["strides"])
            out = np.einsum("nchwij,ocij->nohw", patches, weight, optimize=True)
        elif op == "BatchNormalization":
            scale, bias, mean, var = (v[None, :, None, None] for v in x[1:])
            out = scale * (x[0] - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) + bias
        elif op == "Relu": out = np.maximum(x[0], 0)
        elif op == "Add": out = x[0] + x[1]
        elif op == "Sub": out = x[0] - x[1]
        elif op == "MaxPool":
            out = windows(np.ascontiguousarray(pad(x[0], a["pads"], -np.inf)), a["kernel_shape"], a["strides"]).max(axis=(4, 5))
        elif op == "AveragePool":
            assert list(a.get("pads", [0, 0, 0, 0])) == [0, 0, 0, 0]
            out = windows(x[0], a["kernel_shape"], a["strides"]).mean(axis=(4, 5))
        elif op == "Split":
            parts = np.cumsum(a["split"])[:-1]
            for name, part in zip(node.output, np.split(x[0], parts, axis=a["axis"])):
                values[name] = part
            continue
        elif op == "Concat": out = np.concatenate(x, axis=a["axis"])
        else:
            raise NotImplementedError(f"operator {op} of node {node.name}")
        values[node.output[0]] = out
    return [values[o.name] for o in graph.output]


def main(models, out_dir):
    model_path = os.path.join(models, "ResNet18Onnx", "ResNet18.onnx")
    prep_path = os.path.join(models, "ResNetPrepOnnx", "ResNetPreprocess.onnx")
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    with open(prep_path, "rb") as f:
        prep_bytes = f.read()
    model = onnx.load_from_string(model_bytes)
    prep = onnx.load_from_string(prep_bytes)
    os.makedirs(out_dir, exist_ok=True)

    names, features = [], []
    for name, pixels in images():
        write_png(os.path.join(out_dir, name), pixels)
        rgb = np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels
        batch = rgb.astype(np.float64).transpose(2, 0, 1)[None]
        (centred,) = run_graph(prep.graph, {prep.graph.input[0].name: batch})
        (pooled,) = run_graph(model.graph, {model.graph.input[0].name: centred})
        names.append(name)
        features.append(pooled.reshape(-1))
        print(f"{name}: features mean {pooled.mean():.4f}, max {pooled.max():.4f}")

    fixture = {
        "source": "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.24.0, ResNet18Onnx/ResNet18.onnx + ResNetPrepOnnx/ResNetPreprocess.onnx",
        "sha256": hashlib.sha256(model_bytes + prep_bytes).hexdigest(),
        "size": SIZE,
        "images": names,
        "features": np.round(np.array(features), 6).tolist(),
    }
    with open(os.path.join(out_dir, "resnet18_reference.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
