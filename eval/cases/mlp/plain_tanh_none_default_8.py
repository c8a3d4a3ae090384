"""8 tanh layers, no normalization, plain, default init."""
from torch import nn


class Net(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(8):
            layers += [nn.Linear(width, width), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.body(x))
