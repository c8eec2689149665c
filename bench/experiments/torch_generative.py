"""The torch twins of `bench.experiments.generative`, named there by `torch_twin`, and the
VAE's loss in torch.

Same constructor arguments (less rng and dtype) and the same state_dict keys, so
`reference.twin` builds them and copies the scratch weights in; each forward takes
the same noise (eps, z) from the caller as the scratch model does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvVAE(nn.Module):
    def __init__(self, latent: int = 20, hidden: int = 256, channels: tuple[int, int] = (32, 64)):
        super().__init__()
        c1, c2 = channels
        flat = c2 * 7 * 7
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, flat), nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)), nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1))

    def forward(self, x: torch.Tensor, eps: torch.Tensor):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        return self.decoder(mu + torch.exp(0.5 * logvar) * eps), mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


def elbo_loss(logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              x: torch.Tensor) -> torch.Tensor:
    """The negative ELBO per image: (BCE summed over the pixels + KL) / batch, as
    pytorch/examples' VAE writes it (there from probabilities, here from logits)."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kl) / x.shape[0]


class Generator(nn.Module):
    def __init__(self, latent: int = 64, width: int = 32):
        super().__init__()
        self.latent = latent
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent, 4 * width, 7, 1, 0, bias=False),
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(*z.shape, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 7, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


class DCGAN(nn.Module):
    def __init__(self, latent: int = 64, width: int = 32):
        super().__init__()
        self.generator = Generator(latent, width)
        self.discriminator = Discriminator(width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)
