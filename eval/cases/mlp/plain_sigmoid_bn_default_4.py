"""4 sigmoid layers, BatchNorm, plain, default init."""
from torch import nn


class Net(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(4):
            layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.body(x))
