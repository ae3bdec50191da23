"""PyTorch reference for the train-step benchmark: one training step (forward, cross-entropy on
a linear head, backward, AdamW step) of MobileNetV3-small (torchvision) or BERT-tiny (Hugging
Face BertModel layout, plain PyTorch), mean seconds per step after warm-up.

Usage: train_step.py {mobilenet|bert} [--batch 32] [--size 128] [--tokens 64] [--steps 5]
                     [--warmup 3] [--threads N]
Prints "parameters=N" (encoder parameters, for the runner to check), "median=S" and "seconds=S" (fastest).
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn

CLASSES = 10
VOCAB = 30522


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inner):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attention_dense, self.attention_norm = nn.Linear(hidden, hidden), nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate, self.output = nn.Linear(hidden, inner), nn.Linear(inner, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, additive_mask):
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, h // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        if hasattr(nn.functional, "scaled_dot_product_attention"):
            context = nn.functional.scaled_dot_product_attention(q, k, v, additive_mask, 0.1 if self.training else 0.0)
        else:  # torch < 2.0: BERT's eager attention
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + additive_mask
            context = self.dropout(scores.softmax(-1)) @ v
        context = context.transpose(1, 2).reshape(b, t, h)
        attended = self.attention_norm(self.dropout(self.attention_dense(context)) + x)
        return self.output_norm(self.dropout(self.output(nn.functional.gelu(self.intermediate(attended)))) + attended)


class BertTiny(nn.Module):
    def __init__(self, hidden=128, layers=2, heads=2, inner=512):
        super().__init__()
        self.word, self.position, self.token_type = nn.Embedding(VOCAB, hidden, padding_idx=0), nn.Embedding(512, hidden), nn.Embedding(2, hidden)
        self.norm, self.dropout = nn.LayerNorm(hidden, eps=1e-12), nn.Dropout(0.1)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, inner) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)  # present as in BertModel; unused by [CLS] pooling
        self.feature_dim = hidden

    def forward(self, ids, mask, types):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.dropout(self.norm(self.word(ids) + self.token_type(types) + self.position(positions)))
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, additive)
        return x[:, 0]


class MobileNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        import torchvision
        self.features = torchvision.models.mobilenet_v3_small().features
        self.feature_dim = 576

    def forward(self, images):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(images), 1), 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["mobilenet", "bert"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model == "mobilenet":
        encoder = MobileNetSmall()
        inputs = (torch.randn(args.batch, 3, args.size, args.size),)
    else:
        encoder = BertTiny()
        ids = torch.randint(5, VOCAB, (args.batch, args.tokens))
        inputs = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    labels = torch.randint(0, CLASSES, (args.batch,))
    head = nn.Linear(encoder.feature_dim, CLASSES)
    encoder.train()
    optimizer = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=1e-4)

    def step():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(head(encoder(*inputs)), labels)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"parameters={sum(p.numel() for p in encoder.parameters())}")
    print(f"median={statistics.median(times):.6f}")
    print(f"seconds={min(times):.6f}")


if __name__ == "__main__":
    main()
