"""python train.py --data features.npz --in-features 54 --num-classes 7"""
import argparse

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from models import TabularResNet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--in-features", type=int, required=True)
    parser.add_argument("--num-classes", type=int, required=True)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    arrays = np.load(args.data)
    dataset = TensorDataset(torch.from_numpy(arrays["x"]).float(), torch.from_numpy(arrays["y"]).long())
    loader = DataLoader(dataset, batch_size=256, shuffle=True)
    model = TabularResNet(args.in_features, args.num_classes, width=args.width, depth=args.depth)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for _ in range(args.epochs):
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()


if __name__ == "__main__":
    main()
