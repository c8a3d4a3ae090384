import argparse

import torch
from torch import nn

from model import ImageCaptioner


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--embed-size", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.001)
    args = parser.parse_args()
    vocab = torch.load("data/vocab.pt")
    model = ImageCaptioner(args.embed_size, args.hidden_size, len(vocab), args.num_layers)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    return model, criterion, optimizer


if __name__ == "__main__":
    main()
