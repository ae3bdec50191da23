"""PyTorch reference for the minilm benchmark: a frozen forward pass (eval, no_grad) of a
Hugging Face BertModel with mask-aware mean pooling, on the weights FedMM wrote to a safetensors
file (the same all-MiniLM-L6-v2 tensors, by BertModel name), fastest of --steps after warm-up.

Usage: minilm_forward.py WEIGHTS.safetensors --layers 6 --heads 12 [--batch 32] [--tokens 64]
                         [--steps 10] [--warmup 3] [--threads N]
Prints "checksum=X" (sum of the pooled features, for the runner to check the work is the same),
"median=S" and "seconds=S" (fastest).
"""
import argparse
import math
import statistics
import time

import torch
from torch.nn import functional as F

from safetensors_f32 import read_safetensors


def inputs(batch, tokens, vocab):
    """The same batch as the C# side: row i keeps 16 + (i * 48) // (batch - 1) tokens, ids from a fixed formula."""
    ids = torch.zeros(batch, tokens, dtype=torch.int64)
    mask = torch.zeros(batch, tokens, dtype=torch.int64)
    for i in range(batch):
        length = min(tokens, 16 + (i * 48) // max(1, batch - 1))
        for j in range(length):
            ids[i, j] = 101 if j == 0 else 102 if j == length - 1 else 1000 + (i * 7919 + j * 104729) % (vocab - 1000)
        mask[i, :length] = 1
    return ids, mask


def forward(w, layers, heads, ids, mask):
    b, t = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t].unsqueeze(0) \
        + w["embeddings.token_type_embeddings.weight"][0]
    h = x.shape[-1]
    x = F.layer_norm(x, (h,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], 1e-12)
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda y, n: F.linear(y, w[p + n + ".weight"], w[p + n + ".bias"])
        split = lambda y: y.view(b, t, heads, h // heads).transpose(1, 2)
        q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(h // heads) + additive
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
        a = F.layer_norm(lin(context, "attention.output.dense") + x, (h,), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], 1e-12)
        y = lin(F.gelu(lin(a, "intermediate.dense")), "output.dense")
        x = F.layer_norm(y + a, (h,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], 1e-12)
    m = mask.unsqueeze(-1).float()
    return (x * m).sum(1) / m.sum(1).clamp_min(1e-9)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--layers", type=int, required=True)
    parser.add_argument("--heads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    w = read_safetensors(args.weights)
    ids, mask = inputs(args.batch, args.tokens, w["embeddings.word_embeddings.weight"].shape[0])
    with torch.no_grad():
        for _ in range(args.warmup):
            pooled = forward(w, args.layers, args.heads, ids, mask)
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            pooled = forward(w, args.layers, args.heads, ids, mask)
            times.append(time.perf_counter() - start)
    print(f"checksum={pooled.double().sum().item():.6f}")
    print(f"median={statistics.median(times):.6f}")
    print(f"seconds={min(times):.6f}")


if __name__ == "__main__":
    main()
