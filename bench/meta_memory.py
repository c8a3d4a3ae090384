"""Peak resident memory of `gradlint` on a file that defines a 7B-parameter model class.

    python bench/meta_memory.py

Writes a Llama-7B-sized decoder (dim 4096, 32 layers, 32 heads, MLP 11008, vocabulary 32000:
6.7 billion parameters, 27 GB of float32 weights) into a temporary directory, lints it with the
real CLI, and prints the largest resident set of gradlint and its worker (getrusage of the
children). gradlint builds the class on the meta device, finds that the probe would need about
100 GiB, and checks its structure there, without ever allocating the weights.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = '''
import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp_norm = RMSNorm(dim)
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama7B(nn.Module):
    def __init__(self, vocab=32000, dim=4096, layers=32, heads=32, hidden=11008):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "llama7b.py")
        path.write_text(MODEL)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "gradlint", str(path), "--no-cache", "-v"],
                                capture_output=True, text=True, cwd=tmp)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(result.stdout + result.stderr, end="")
    print(f"exit code {result.returncode}; {seconds:.1f} s; peak RSS of gradlint and its worker: "
          f"{peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
