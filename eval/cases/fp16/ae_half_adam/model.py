"""MLP denoising autoencoder on 1×32×32 images, trained with Adam (lr=1e-3) in a .half() model (float16 weights, gradients and optimizer state)."""
import torch
from torch import nn

device = "cuda" if torch.cuda.is_available() else "cpu"


class Net(nn.Module):
    def __init__(self, pixels=32 * 32, hidden=256, code=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, code), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, pixels),
                                     nn.Sigmoid())

    def forward(self, images):
        return self.decoder(self.encoder(images)).view_as(images)


def fit(model, batches):
    """One pass over ``batches`` of (inputs, targets)."""
    model.to(device).half()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = nn.functional.mse_loss(model(inputs.half()).float(), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
