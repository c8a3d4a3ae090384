"""nn.RNNCell (tanh, default init) stepped in a Python loop; adding problem, (batch, T, 2) in, (batch, 1) out."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.cell = nn.RNNCell(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = x.new_zeros(x.size(0), self.cell.hidden_size)
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h)
        return self.head(h)


def gradlint_models():
    # no layer tells gradlint the input's shape (batch, T, 2): declare it
    return {"Net": (Net(), torch.randn(8, 10, 2))}
