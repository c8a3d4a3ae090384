"""A physics-informed regression script: the model is converted to float64 before training, as
scientific codes do for accuracy; its data comes from a file that is not in the repository."""
import argparse

import numpy as np
import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="measurements.npz")
parser.add_argument("--width", type=int, default=64)
parser.add_argument("--depth", type=int, default=4)
args = parser.parse_args()


class Surrogate(nn.Module):
    def __init__(self, inputs=3, width=64, depth=4):
        super().__init__()
        layers = [nn.Linear(inputs, width), nn.Tanh()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, coords):
        return self.net(coords)


model = Surrogate(width=args.width, depth=args.depth).double()


def main():
    data = np.load(args.data)
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    for _ in range(50):
        optimizer.step(closure)


if __name__ == "__main__":
    main()
