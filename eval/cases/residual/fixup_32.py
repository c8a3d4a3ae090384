"""32 residual blocks: Fixup (Zhang et al. 2019): first branch layer He × depth^-1/2, last layer zero, scalar biases and multiplier, no normalization; two spirals."""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.bias1 = nn.Parameter(torch.zeros(1))
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc2 = nn.Linear(width, width, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        with torch.no_grad():
            self.fc1.weight.mul_(depth ** -0.5)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x):
        out = torch.relu(self.fc1(x + self.bias1))
        return x + self.scale * self.fc2(out + self.bias2)


class Net(nn.Module):
    def __init__(self, width=64, depth=32):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.blocks = nn.Sequential(*[Block(width, depth) for _ in range(depth)])
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
