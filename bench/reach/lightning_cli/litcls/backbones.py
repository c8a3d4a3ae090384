from torch import nn


class ConvNet(nn.Module):
    """Conv-BN-ReLU stages, each halving the resolution, then global average pooling."""

    def __init__(self, in_channels: int, widths: list[int]):
        super().__init__()
        stages = []
        for width in widths:
            stages += [nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            in_channels = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = in_channels

    def forward(self, x):
        return self.pool(self.features(x)).flatten(1)
