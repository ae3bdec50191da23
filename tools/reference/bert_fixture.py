"""Reference fixture for FedMM's BertEncoder.

A plain-PyTorch BERT with exactly the module layout and parameter names of Hugging Face's
`BertModel` (embeddings.*, encoder.layer.N.attention.self.query/key/value, attention.output.*,
intermediate.dense, output.*, pooler.dense), eager attention with an additive mask of the dtype's
minimum, GELU (erf), LayerNorm eps 1e-12, so the expected values do not depend on FedMM's code.

Writes into OUT_FOLDER:
- bert_names.json: name -> shape for bert-tiny and bert-mini at vocab 30,522, and their parameter counts;
- bert_small.safetensors: weights of a small random model (L2, H32, A4, I64, vocab 50, 40 positions);
- bert_small_io.safetensors: input_ids, attention_mask, token_type_ids and the outputs
  last_hidden, cls, mean, pooler of that model in eval mode.

Usage: python3 bert_fixture.py OUT_FOLDER
"""
import json
import math
import os
import sys

import torch
from torch import nn

from safetensors_writer import save_file


class Embeddings(nn.Module):
    def __init__(self, vocab, hidden, positions, types=2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, ids, types):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)

    def split(self, x):
        b, t, h = x.shape
        return x.view(b, t, self.heads, h // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + additive_mask
        context = self.dropout(scores.softmax(-1)) @ v
        b, _, t, _ = context.shape
        return context.permute(0, 2, 1, 3).reshape(b, t, -1)


class SelfOutput(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = SelfOutput(hidden)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))


class Output(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Layer(nn.Module):
    def __init__(self, hidden, heads, inner):
        super().__init__()
        self.attention = Attention(hidden, heads)
        self.intermediate = Intermediate(hidden, inner)
        self.output = Output(hidden, inner)

    def forward(self, x, mask):
        attended = self.attention(x, mask)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, layers, hidden, heads, inner):
        super().__init__()
        self.layer = nn.ModuleList([Layer(hidden, heads, inner) for _ in range(layers)])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class Pooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, inner, positions=512):
        super().__init__()
        self.embeddings = Embeddings(vocab, hidden, positions)
        self.encoder = Encoder(layers, hidden, heads, inner)
        self.pooler = Pooler(hidden)

    def forward(self, ids, mask, types):
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        hidden = self.encoder(self.embeddings(ids, types), additive)
        m = mask.unsqueeze(-1).float()
        mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return hidden, hidden[:, 0], mean, self.pooler(hidden)


CONFIGS = {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024)}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    names = {}
    for name, (layers, hidden, heads, inner) in CONFIGS.items():
        model = BertModel(30522, hidden, layers, heads, inner)
        names[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        }
    with open(os.path.join(out, "bert_names.json"), "w") as f:
        json.dump(names, f, indent=1)

    torch.manual_seed(7)
    model = BertModel(vocab=50, hidden=32, layers=2, heads=4, inner=64, positions=40)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
            elif isinstance(module, nn.Linear):
                module.bias.uniform_(-0.1, 0.1)
    model.eval()
    ids = torch.randint(5, 50, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.int64)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    ids[:, 0] = 2  # [CLS]
    ids[mask == 0] = 0  # [PAD]
    types = torch.zeros(3, 12, dtype=torch.int64)
    types[0, 6:] = 1
    with torch.no_grad():
        hidden, cls, mean, pooler = model(ids, mask, types)
    save_file(model.state_dict(), os.path.join(out, "bert_small.safetensors"))
    save_file({"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
               "last_hidden": hidden, "cls": cls, "mean": mean, "pooler": pooler},
              os.path.join(out, "bert_small_io.safetensors"))
    print({k: v["parameters"] for k, v in names.items()})


if __name__ == "__main__":
    main()
