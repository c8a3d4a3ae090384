"""An example model file, written the way many tutorials write it, with three classic risks.

Run `gradlint examples/` to see them reported at their lines, with the probe's measurements.
"""
import torch
from torch import nn


class SigmoidMLP(nn.Module):
    """A 6-layer sigmoid MLP: each sigmoid shrinks the gradient by at least 4×."""

    def __init__(self):
        super().__init__()
        layers = [nn.Flatten()]
        width = 784
        for _ in range(6):
            layers += [nn.Linear(width, 256), nn.Sigmoid()]
            width = 256
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(256, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


class SequenceClassifier(nn.Module):
    """A vanilla RNN at PyTorch's default init, read out at the last of 100 steps."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(28, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def train(model, loader, epochs=1):
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(epochs):
        for images, labels in loader:
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def gradlint_models():
    # Models whose inputs gradlint should not guess: (model, example inputs).
    return {"SequenceClassifier": (SequenceClassifier(), torch.randn(8, 100, 28))}


if __name__ == "__main__":
    train(SigmoidMLP(), [])
