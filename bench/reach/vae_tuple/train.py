import torch

from vae import ConvVAE, loss_function


def main():
    model = ConvVAE(channels=1, latent=20)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.rand(64, 1, 28, 28)
    for start in range(0, 64, 16):
        x = images[start:start + 16]
        recon, mu, logvar = model(x)
        loss = loss_function(recon, x, mu, logvar)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
