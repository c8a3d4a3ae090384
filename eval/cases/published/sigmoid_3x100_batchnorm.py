"""THEORY.md §4: the same 3×100 sigmoid MLP with BatchNorm before each sigmoid (pass)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(2, 100), nn.BatchNorm1d(100)
        self.fc2, self.bn2 = nn.Linear(100, 100), nn.BatchNorm1d(100)
        self.fc3, self.bn3 = nn.Linear(100, 100), nn.BatchNorm1d(100)
        self.out = nn.Linear(100, 2)
        for fc in (self.fc1, self.fc2, self.fc3, self.out):
            nn.init.normal_(fc.weight, std=0.1)

    def forward(self, x):
        h = torch.sigmoid(self.bn1(self.fc1(x)))
        h = torch.sigmoid(self.bn2(self.fc2(h)))
        h = torch.sigmoid(self.bn3(self.fc3(h)))
        return self.out(h)
