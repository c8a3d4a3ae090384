"""THEORY.md §4: 5-layer sigmoid MLP, no normalization (Glorot: error)."""
from torch import nn


class Net(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(5):
            layers += [nn.Linear(width, width), nn.Sigmoid()]
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.hidden(x))
