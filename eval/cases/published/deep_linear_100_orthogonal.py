"""THEORY.md §4: 100-layer deep linear net, orthogonal init (Saxe et al. 2013: no gradient finding); linear, so trained on linearly separable blobs."""
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(2, 128)
        self.layers = nn.ModuleList(nn.Linear(128, 128, bias=False) for _ in range(100))
        for layer in self.layers:
            nn.init.orthogonal_(layer.weight)
        self.head = nn.Linear(128, 2)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
