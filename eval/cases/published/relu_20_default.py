"""THEORY.md §4: 20-layer ReLU MLP at PyTorch's default init (error, D ≈ −7.4)."""
from torch import nn


class Net(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(20):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.net(x))
