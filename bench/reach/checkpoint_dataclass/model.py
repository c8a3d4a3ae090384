"""A Llama-style decoder whose sizes live in a dataclass with no defaults: the real values come
from the checkpoint's params.json at load time."""
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelArgs:
    dim: int
    n_layers: int
    n_heads: int
    vocab_size: int
    multiple_of: int
    norm_eps: float
    max_seq_len: int


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        hidden = args.multiple_of * ((4 * args.dim + args.multiple_of - 1) // args.multiple_of)
        self.attention_norm, self.ffn_norm = RMSNorm(args.dim, args.norm_eps), RMSNorm(args.dim, args.norm_eps)
        self.attention = nn.MultiheadAttention(args.dim, args.n_heads, batch_first=True)
        self.w1, self.w2 = nn.Linear(args.dim, hidden, bias=False), nn.Linear(hidden, args.dim, bias=False)

    def forward(self, x, mask):
        h = self.attention_norm(x)
        x = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.w2(torch.nn.functional.silu(self.w1(self.ffn_norm(x))))


class Transformer(nn.Module):
    def __init__(self, params: ModelArgs):
        super().__init__()
        self.params = params
        self.tok_embeddings = nn.Embedding(params.vocab_size, params.dim)
        self.layers = nn.ModuleList(Block(params) for _ in range(params.n_layers))
        self.norm = RMSNorm(params.dim, params.norm_eps)
        self.output = nn.Linear(params.dim, params.vocab_size, bias=False)

    def forward(self, tokens):
        seqlen = tokens.shape[1]
        mask = torch.full((seqlen, seqlen), float("-inf"), device=tokens.device).triu(1)
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, mask)
        return self.output(self.norm(h))
