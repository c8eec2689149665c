"""Generative models of one's own (issue 31): a convolutional VAE and a DCGAN, with their losses.

Each model subclasses `scratch.Module` with its own `forward` and `backward` and
names its torch twin (`torch_twin`, in `bench.experiments.torch_generative`), as
`models.py` does for the classifiers' bodies. The randomness a forward needs (the
VAE's eps, the GAN's latent vectors) is an input, drawn by the caller from a numpy
Generator and handed to both twins, as the shared-mask dropout hands its masks.

`ConvVAE` (28 x 28 grey levels in [0, 1]):

    encoder  x (N, 1, 28, 28) -> conv 4x4/2 -> ReLU -> conv 4x4/2 -> ReLU -> flatten
             -> linear -> ReLU -> h (N, hidden);  mu = W_mu h + b,  logvar = W_lv h + b
    reparam  z = mu + exp(logvar / 2) * eps,  eps ~ N(0, 1) (N, latent)
    decoder  z -> linear -> ReLU -> linear -> ReLU -> (N, C2, 7, 7)
             -> convT 4x4/2 -> ReLU -> convT 4x4/2 -> logits (N, 1, 28, 28)

and `ELBOLoss`, the negative ELBO per image: sum over the 784 pixels of
BCE(sigmoid(logits), x) plus KL(N(mu, sigma^2) || N(0, 1)) = -1/2 sum(1 + logvar -
mu^2 - exp(logvar)), averaged over the batch. Backward through the reparameterisation:
dmu = dz, dlogvar = dz * eps * exp(logvar / 2) / 2, deps = dz * exp(logvar / 2).

`DCGAN` holds a `Generator` (z (N, latent) -> convT 7x7 -> BN -> ReLU -> convT 4x4/2 ->
BN -> ReLU -> convT 4x4/2 -> Tanh -> (N, 1, 28, 28) in [-1, 1]) and a `Discriminator`
((N, 1, 28, 28) -> conv 4x4/2 -> LeakyReLU(0.2) -> conv 4x4/2 -> BN -> LeakyReLU(0.2)
-> conv 7x7 -> logits (N,)), one state dict for both (`generator.*`,
`discriminator.*`); the training step (`bench.training.generative`) runs them
apart, with BCEWithLogitsLoss and one Adam each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import scratch

IMAGE = (1, 28, 28)  # (C, H, W) of one MNIST picture


class _ReparamCache(NamedTuple):
    eps: np.ndarray  # (N, latent)
    std: np.ndarray  # exp(logvar / 2), (N, latent)


class ConvVAE(scratch.Module):
    """A convolutional VAE for 28 x 28 images: forward(x, eps) -> (logits, mu, logvar).

    Args:
        latent: size of z. hidden: the dense layer between the convolutions and (mu,
        logvar), and its mirror in the decoder. channels: the two convolutions' widths
        (28 -> 14 -> 7), mirrored by the decoder's transposed convolutions.
    """

    torch_twin = "bench.experiments.torch_generative:ConvVAE"

    def __init__(self, latent: int = 20, hidden: int = 256, channels: tuple[int, int] = (32, 64),
                 *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        c1, c2 = channels
        flat = c2 * 7 * 7
        kw = {"rng": rng, "dtype": dtype}
        self.encoder = scratch.Sequential(
            scratch.Conv2d(1, c1, 4, 2, 1, **kw), scratch.ReLU(),
            scratch.Conv2d(c1, c2, 4, 2, 1, **kw), scratch.ReLU(), scratch.Flatten(),
            scratch.Linear(flat, hidden, **kw), scratch.ReLU())
        self.mu = scratch.Linear(hidden, latent, **kw)
        self.logvar = scratch.Linear(hidden, latent, **kw)
        self.decoder = scratch.Sequential(
            scratch.Linear(latent, hidden, **kw), scratch.ReLU(),
            scratch.Linear(hidden, flat, **kw), scratch.ReLU(), scratch.Unflatten(1, (c2, 7, 7)),
            scratch.ConvTranspose2d(c2, c1, 4, 2, 1, **kw), scratch.ReLU(),
            scratch.ConvTranspose2d(c1, 1, 4, 2, 1, **kw))

    def forward(self, x: np.ndarray, eps: np.ndarray):
        h = self.encoder(x)  # (N, hidden)
        mu, logvar = self.mu(h), self.logvar(h)  # (N, latent) each
        if eps.shape != mu.shape:
            raise ValueError(f"ConvVAE: eps must have shape {mu.shape} (batch, latent), got "
                             f"{eps.shape}")
        std = np.exp(logvar * 0.5)  # (N, latent)
        self._cache = _ReparamCache(eps, std)
        return self.decoder(mu + std * eps), mu, logvar  # (N, 1, 28, 28), (N, L), (N, L)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Pixel probabilities (N, 1, 28, 28) of latent vectors z (N, latent): the samples."""
        return scratch.functional.sigmoid(self.decoder(z))

    def backward(self, grad_logits: np.ndarray, grad_mu: np.ndarray, grad_logvar: np.ndarray,
                 *, input_grad: bool = True):
        """(dx, deps) from the gradients of the three outputs; (None, None) without
        input_grad (the data and the noise need none in training)."""
        eps, std = self._cache
        dz = self.decoder.backward(grad_logits)  # (N, latent)
        dmu = grad_mu + dz
        dlogvar = grad_logvar + dz * eps * std * 0.5  # d std / d logvar = std / 2
        dh = self.mu.backward(dmu) + self.logvar.backward(dlogvar)  # (N, hidden)
        dx = self.encoder.backward(dh, input_grad=input_grad)
        return (dx, dz * std) if input_grad else (None, None)


class ELBOLoss:
    """The negative ELBO per image: (sum of the pixels' BCE + KL) / N, a Python float.

    forward(logits, mu, logvar, x): the model's three outputs, the decoder's logits first
    (BCE from logits, as BCEWithLogitsLoss: stable where sigmoid saturates), then x, the
    grey levels in [0, 1];
    backward() -> (dlogits, dmu, dlogvar) of that mean. `last_bce` and `last_kl` keep
    the two terms of the last forward, per image.
    """

    def __init__(self):
        self.bce = scratch.BCEWithLogitsLoss(reduction="sum")

    def __call__(self, logits: np.ndarray, mu: np.ndarray, logvar: np.ndarray,
                 x: np.ndarray) -> float:
        n = len(x)
        var = np.exp(logvar)  # (N, latent)
        kl = -0.5 * float(np.sum(1 + logvar - mu * mu - var))
        self.last_bce, self.last_kl = self.bce(logits, x) / n, kl / n
        self._cache = (n, mu, var)
        return self.last_bce + self.last_kl

    def backward(self):
        n, mu, var = self._cache
        dlogits = self.bce.backward(1.0 / n)  # (N, 1, 28, 28)
        return dlogits, mu / n, (var - 1) * (0.5 / n)


class Generator(scratch.Module):
    """DCGAN's generator: z (N, latent) -> images (N, 1, 28, 28) in [-1, 1]."""

    torch_twin = "bench.experiments.torch_generative:Generator"

    def __init__(self, latent: int = 64, width: int = 32, *, rng: np.random.Generator,
                 dtype=np.float32):
        super().__init__()
        kw = {"rng": rng, "dtype": dtype}
        self.latent = latent
        # The convolutions before a batch norm carry no bias: the norm would cancel it.
        self.net = scratch.Sequential(
            scratch.ConvTranspose2d(latent, 4 * width, 7, 1, 0, bias=False, **kw),  # 1 -> 7
            scratch.BatchNorm2d(4 * width, dtype=dtype), scratch.ReLU(),
            scratch.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False, **kw),  # -> 14
            scratch.BatchNorm2d(2 * width, dtype=dtype), scratch.ReLU(),
            scratch.ConvTranspose2d(2 * width, 1, 4, 2, 1, **kw), scratch.Tanh())  # -> 28

    def forward(self, z: np.ndarray) -> np.ndarray:
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise ValueError(f"Generator: z must have shape (batch, {self.latent}), got "
                             f"{z.shape}")
        return self.net(z.reshape(*z.shape, 1, 1))  # (N, 1, 28, 28)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        dz = self.net.backward(grad_out, input_grad=input_grad)  # (N, latent, 1, 1)
        return None if dz is None else dz.reshape(len(dz), -1)


class Discriminator(scratch.Module):
    """DCGAN's discriminator: images (N, 1, 28, 28) -> logits (N,), real above 0."""

    torch_twin = "bench.experiments.torch_generative:Discriminator"

    def __init__(self, width: int = 32, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        kw = {"rng": rng, "dtype": dtype}
        self.net = scratch.Sequential(
            scratch.Conv2d(1, width, 4, 2, 1, **kw), scratch.LeakyReLU(0.2),  # 28 -> 14
            scratch.Conv2d(width, 2 * width, 4, 2, 1, bias=False, **kw),  # -> 7
            scratch.BatchNorm2d(2 * width, dtype=dtype), scratch.LeakyReLU(0.2),
            scratch.Conv2d(2 * width, 1, 7, 1, 0, **kw))  # -> 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net(x).reshape(len(x))  # (N, 1, 1, 1) -> (N,)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        return self.net.backward(grad_out.reshape(len(grad_out), 1, 1, 1), input_grad=input_grad)


class DCGAN(scratch.Module):
    """The two networks in one module, for one state dict and one twin; forward(z) generates.

    The training step runs `generator` and `discriminator` apart (two optimizers,
    alternating steps); forward and backward here are the generator's, so that the
    model samples as a model does.
    """

    torch_twin = "bench.experiments.torch_generative:DCGAN"

    def __init__(self, latent: int = 64, width: int = 32, *, rng: np.random.Generator,
                 dtype=np.float32):
        super().__init__()
        self.generator = Generator(latent, width, rng=rng, dtype=dtype)
        self.discriminator = Discriminator(width, rng=rng, dtype=dtype)

    def forward(self, z: np.ndarray) -> np.ndarray:
        return self.generator(z)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        return self.generator.backward(grad_out, input_grad=input_grad)


def dcgan_init(model: DCGAN, rng: np.random.Generator) -> None:
    """DCGAN's initialisation (Radford et al. 2015): conv weights N(0, 0.02^2), batch norm
    weights N(1, 0.02^2) and biases 0; the rest keep torch's default."""
    for m in model.modules():
        if isinstance(m, (scratch.Conv2d, scratch.ConvTranspose2d)):
            m.weight.data[...] = rng.normal(0.0, 0.02, m.weight.shape)
        elif isinstance(m, scratch.BatchNorm2d):
            m.weight.data[...] = rng.normal(1.0, 0.02, m.weight.shape)
            m.bias.data[...] = 0
