"""THEORY.md §4: 3×100 sigmoid MLP, N(0, 0.1²) init, no BN (Ioffe & Szegedy: warning)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 100)
        self.fc2 = nn.Linear(100, 100)
        self.fc3 = nn.Linear(100, 100)
        self.out = nn.Linear(100, 2)
        for fc in (self.fc1, self.fc2, self.fc3, self.out):
            nn.init.normal_(fc.weight, std=0.1)
            nn.init.zeros_(fc.bias)

    def forward(self, x):
        h = torch.sigmoid(self.fc1(x))
        h = torch.sigmoid(self.fc2(h))
        h = torch.sigmoid(self.fc3(h))
        return self.out(h)
