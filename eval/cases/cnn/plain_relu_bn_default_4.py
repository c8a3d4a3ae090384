"""4 relu conv layers (+ stem), BatchNorm2d, plain (nn.Sequential), default init; 1-channel images, 4 classes."""
from torch import nn


class Net(nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        layers = [nn.Conv2d(1, channels, 3, padding=1)]
        for _ in range(4):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4))

    def forward(self, x):
        return self.classifier(self.features(x))
