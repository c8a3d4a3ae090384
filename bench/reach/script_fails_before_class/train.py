"""A tutorial-style script: it loads its data (a file that is not in the repository) and a dataset
package (not installed) before it defines its model, then trains at the top level."""
import numpy as np
import torch
from torch import nn

features = np.load("data/features.npy")
labels = np.load("data/labels.npy")
import audio_datasets  # noqa: E402  (the project's private dataset package)

N_FEATURES = 40
N_CLASSES = 12


class SpeechCommandNet(nn.Module):
    def __init__(self, n_features=N_FEATURES, n_classes=N_CLASSES, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return self.net(x)


model = SpeechCommandNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(10):
    for x, y in audio_datasets.loader(features, labels):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
