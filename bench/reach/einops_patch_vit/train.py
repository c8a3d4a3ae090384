"""Train the ViT on CIFAR-10-sized images."""
import argparse

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vit import ViT

parser = argparse.ArgumentParser()
parser.add_argument("--image-size", type=int, default=48)
parser.add_argument("--patch-size", type=int, default=6)
parser.add_argument("--dim", type=int, default=128)
parser.add_argument("--depth", type=int, default=4)
parser.add_argument("--heads", type=int, default=4)
parser.add_argument("--lr", type=float, default=3e-4)
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

transform = transforms.Compose([transforms.Resize(args.image_size), transforms.ToTensor()])
train = datasets.CIFAR10("data", train=True, download=True, transform=transform)
loader = DataLoader(train, batch_size=64, shuffle=True)

model = ViT(image_size=args.image_size, patch_size=args.patch_size, num_classes=10, dim=args.dim,
            depth=args.depth, heads=args.heads, mlp_dim=args.dim * 2, dim_head=32)
optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
criterion = torch.nn.CrossEntropyLoss()

for epoch in range(args.epochs):
    for images, labels in loader:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
