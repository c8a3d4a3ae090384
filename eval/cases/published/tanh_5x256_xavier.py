"""THEORY.md §4: the same 5-layer tanh MLP with xavier_uniform_ (pass)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(5))
        self.head = nn.Linear(width, 2)
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x)
