"""PyTorch reference for the dp-sgd benchmark: one DP-SGD training step of FedMM's shared heads
(image and text adapters, cross-attention block, gate, classifier; the layout of
src/Learning/Models/Fusion) on frozen features, with per-sample gradients from functorch
(vmap of grad, the way Opacus and the PyTorch tutorials compute them), each clipped to norm 1 over
all parameters, summed, noised with N(0, 1), divided by the batch, then AdamW; and the same step
without DP-SGD (one batched backward pass). Fastest step of each after warm-up.

Usage: dp_sgd.py --image-dim F --text-dim F [--dim 128] [--heads 4] [--ff 256] [--classes 5]
                 [--batch 32] [--steps 10] [--warmup 2] [--threads N]
Prints "parameters=N", "plain=S" (non-private step) and "seconds=S" (DP-SGD step).
"""
import argparse
import math
import time

import torch
from torch import nn
from functorch import grad, make_functional, vmap


class Adapter(nn.Module):
    def __init__(self, features, dim, dropout):
        super().__init__()
        self.proj, self.norm, self.dropout = nn.Linear(features, dim), nn.LayerNorm(dim), nn.Dropout(dropout)
        self.missing = nn.Parameter(torch.randn(dim) * 0.02)

    def forward(self, x):
        return self.dropout(nn.functional.gelu(self.norm(self.proj(x))))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, tokens):
        b, length, dim = tokens.shape
        head = dim // self.heads
        q = self.q_proj(query).view(b, self.heads, 1, head)
        k = self.k_proj(tokens).view(b, length, self.heads, head).transpose(1, 2)
        v = self.v_proj(tokens).view(b, length, self.heads, head).transpose(1, 2)
        attention = self.dropout((q @ k.transpose(-2, -1) / math.sqrt(head)).softmax(-1))
        return self.out_proj((attention @ v).reshape(b, dim))


class Heads(nn.Module):
    def __init__(self, image_dim, text_dim, dim, heads, ff, classes, dropout=0.1):
        super().__init__()
        self.image_adapter, self.text_adapter = Adapter(image_dim, dim, dropout), Adapter(text_dim, dim, dropout)
        self.image_to_text, self.text_to_image = CrossAttention(dim, heads, dropout), CrossAttention(dim, heads, dropout)
        self.image_norm, self.text_norm, self.output_norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff_in, self.ff_out = nn.Linear(dim, ff), nn.Linear(ff, dim)
        self.gate, self.late_weights, self.late = nn.Linear(3 * dim + 2, dim), nn.Linear(2, 2), nn.Linear(dim, dim)
        self.hidden, self.output = nn.Linear(dim, dim), nn.Linear(dim, classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, image_features, text_features, presence):
        image, text = self.image_adapter(image_features), self.text_adapter(text_features)
        attended_image = self.image_norm(image + self.dropout(self.image_to_text(image, torch.stack([image, text], 1))))
        attended_text = self.text_norm(text + self.dropout(self.text_to_image(text, torch.stack([text, image], 1))))
        joint = (attended_image + attended_text) * 0.5
        fed = self.ff_out(self.dropout(nn.functional.gelu(self.ff_in(joint))))
        z = self.output_norm(joint + self.dropout(fed))
        f = torch.sigmoid(self.gate(torch.cat([image, text, z, presence], 1)))
        mix = self.late_weights(presence).softmax(1)
        fused = f * z + (1 - f) * self.late(mix[:, 0:1] * image + mix[:, 1:2] * text)
        return self.output(self.dropout(nn.functional.gelu(self.hidden(fused))))


def fastest(steps, warmup, step):
    for _ in range(warmup):
        step()
    best = math.inf
    for _ in range(steps):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-dim", type=int, required=True)
    parser.add_argument("--text-dim", type=int, required=True)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ff", type=int, default=256)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Heads(args.image_dim, args.text_dim, args.dim, args.heads, args.ff, args.classes)
    model.train()
    image, text = torch.randn(args.batch, args.image_dim), torch.randn(args.batch, args.text_dim)
    presence, labels = torch.ones(args.batch, 2), torch.randint(0, args.classes, (args.batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    print(f"parameters={sum(p.numel() for p in model.parameters())}")

    def plain_step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(image, text, presence), labels).backward()
        optimizer.step()

    function, _ = make_functional(model)
    parameters = [p for p in model.parameters()]

    def record_loss(weights, x_image, x_text, x_presence, label):
        logits = function(weights, x_image.unsqueeze(0), x_text.unsqueeze(0), x_presence.unsqueeze(0))
        return nn.functional.cross_entropy(logits, label.unsqueeze(0))

    # functorch 1.13 refuses per-record dropout masks here; one mask for all records costs the same time.
    per_sample = vmap(grad(record_loss), in_dims=(None, 0, 0, 0, 0), randomness="same")
    clip, sigma = 1.0, 1.0

    def private_step():
        optimizer.zero_grad()
        grads = per_sample(tuple(p.detach() for p in parameters), image, text, presence, labels)
        norms = torch.sqrt(sum(g.reshape(args.batch, -1).square().sum(1) for g in grads))
        factors = (clip / norms).clamp(max=1.0)
        for p, g in zip(parameters, grads):
            summed = torch.einsum("b,b...->...", factors, g)
            p.grad = (summed + torch.randn_like(summed) * sigma * clip) / args.batch
        optimizer.step()

    plain = fastest(args.steps, args.warmup, plain_step)
    private = fastest(args.steps, args.warmup, private_step)
    print(f"plain={plain:.6f}")
    print(f"seconds={private:.6f}")


if __name__ == "__main__":
    main()
