"""THEORY.md §4: 30-layer ReLU MLP, kaiming_normal_ (He et al. 2015: converges)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, depth=30, width=128):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.head = nn.Linear(width, 2)
        for layer in self.layers:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.head(x)
