"""THEORY.md §4: 50-layer tanh MLP, σ_w² = 0.5, σ_b = 0.05 (Schoenholz et al. 2017: vanishing; error)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, sigma_w2=0.5, depth=50, width=128):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.head = nn.Linear(width, 2)
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=(sigma_w2 / width) ** 0.5)
            nn.init.normal_(layer.bias, std=0.05)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x)
