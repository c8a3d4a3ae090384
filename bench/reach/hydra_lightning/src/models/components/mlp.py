from torch import nn


class MLP(nn.Module):
    """A fully connected classifier whose sizes come from the Hydra config."""

    def __init__(self, in_features: int, hidden: list, num_classes: int, dropout: float):
        super().__init__()
        layers = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x.flatten(1))
