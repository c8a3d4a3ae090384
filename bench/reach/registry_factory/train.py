import argparse

import torch

from models import create_model

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="resnet10t")
parser.add_argument("--num-classes", type=int, default=100)


def main():
    args = parser.parse_args()
    model = create_model(args.model, num_classes=args.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(10):
        loss = model(torch.randn(8, 3, 64, 64)).logsumexp(1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


if __name__ == "__main__":
    main()
