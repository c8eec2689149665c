"""The generative path of training: VAE and GAN runners for both twins, their evaluation and
fit loop.

An experiment with an `objective` ("vae", "gan") trains here instead of through the
classifier's cross entropy: `make_runner` hands it to `generative_runner`, and
`fit_generative` is `loop.fit` for it (the same batches, divergence checks,
checkpoint per epoch and `History`, of `GenerativeEpochRecord`s).

The noise is the data's twin: each epoch draws it from `noise_rng(seed, epoch)`
(eps for the VAE, latent vectors for the GAN), the test evaluation from
`eval_noise(seed)`, in the experiment's dtype, and both twins get the same arrays,
as the shared-mask dropout gets the same masks.

A GAN step (pytorch/examples' DCGAN): the discriminator's Adam step on real images
(labels 1) and on the generator's images of the step's latent vectors (labels 0,
no gradient into the generator), then the generator's Adam step on the same images
through the updated discriminator (labels 1). Real images are scaled to [-1, 1],
the generator's Tanh range. The two optimizers are one `OptimizerPair` for
checkpoints; a GAN takes no learning-rate schedule.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import scratch
from bench.experiments import Experiment
from bench.experiments.generative import ELBOLoss
from bench.experiments.torch_generative import elbo_loss
from bench.training.checkpoint import save_checkpoint
from bench.training.history import GenerativeEpochRecord, History
from bench.training.loop import (
    Data,
    TrainingDiverged,
    _kept,
    batches,
    check_finite,
    checked_epoch,
)
from bench.training.runners import ScratchRunner, TorchRunner, _optimizer
from scratch.module import eval_mode


def noise_rng(seed: int, epoch: int) -> np.random.Generator:
    """The Generator of one epoch's training noise: the same for both twins."""
    return np.random.default_rng([seed, 11, epoch])


def eval_noise(seed: int) -> np.random.Generator:
    """The Generator of the test evaluation's noise, the same at every epoch."""
    return np.random.default_rng([seed, 12])


def to_unit_range(x: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] -> [-1, 1], the generator's Tanh range (the GAN's real images)."""
    return x * 2 - 1


class OptimizerPair:
    """The generator's and the discriminator's optimizers seen as one, for checkpoints and the
    fit loop: their param groups one after the other, parameters numbered on across both
    (as one torch optimizer numbers its groups'); `step` steps both."""

    def __init__(self, first, second):
        self.parts = (first, second)

    @property
    def param_groups(self) -> list[dict]:
        return [g for part in self.parts for g in part.param_groups]

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad()

    def state_dict(self) -> dict:
        first, second = (part.state_dict() for part in self.parts)
        offset = sum(len(g["params"]) for g in first["param_groups"])
        return {"state": {**first["state"],
                          **{int(i) + offset: s for i, s in second["state"].items()}},
                "param_groups": [*first["param_groups"],
                                 *({**g, "params": [i + offset for i in g["params"]]}
                                   for g in second["param_groups"])]}

    def load_state_dict(self, state: dict) -> None:
        groups = state["param_groups"]
        cut = len(self.parts[0].param_groups)
        offset = sum(len(g["params"]) for g in groups[:cut])
        if len(groups) != cut + len(self.parts[1].param_groups):
            raise ValueError(f"optimizer state_dict does not match: expected "
                             f"{len(self.param_groups)} param groups, got {len(groups)}")
        self.parts[0].load_state_dict({
            "state": {i: s for i, s in state["state"].items() if int(i) < offset},
            "param_groups": groups[:cut]})
        self.parts[1].load_state_dict({
            "state": {int(i) - offset: s for i, s in state["state"].items() if int(i) >= offset},
            "param_groups": [{**g, "params": [int(i) - offset for i in g["params"]]}
                             for g in groups[cut:]]})


class _Noise:
    """What every generative runner shares: the epoch's noise, drawn in the run's dtype."""

    def begin_epoch(self, epoch: int) -> None:
        self.model.train()
        self.noise = noise_rng(self.exp.seed, epoch)

    def draw(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, latent) standard normal from `rng` (default: the epoch's noise)."""
        rng = self.noise if rng is None else rng
        return rng.standard_normal((n, self.latent)).astype(self.exp.dtype)


# --- the VAE ------------------------------------------------------------------------------

class ScratchVAE(_Noise, ScratchRunner):
    def __init__(self, exp: Experiment, model=None):
        super().__init__(exp, model)
        self.loss_fn = ELBOLoss()
        self.latent = self.model.mu.out_features

    def train_step(self, x: np.ndarray) -> float:
        """One step on grey levels x (N, 1, 28, 28); the negative ELBO per image."""
        loss = self.loss_fn(*self.model(x, self.draw(len(x))), x)
        self.optimizer.zero_grad()
        self.model.backward(*self.loss_fn.backward(), input_grad=False)
        self.optimizer.step()
        self.end_step()
        return loss

    def elbo(self, x: np.ndarray, eps: np.ndarray) -> tuple[float, float]:
        """(negative ELBO, its KL part) per image of a batch in eval mode."""
        with eval_mode(self.model):
            loss = self.loss_fn(*self.model(x, eps), x)
        return loss, self.loss_fn.last_kl

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Pixel probabilities of x's reconstructions from the mean z (no noise)."""
        with eval_mode(self.model):
            return self.model.decode(self.model.mu(self.model.encoder(x)))

    def sample(self, z: np.ndarray) -> np.ndarray:
        with eval_mode(self.model):
            return self.model.decode(z)


class TorchVAE(_Noise, TorchRunner):
    def __init__(self, exp: Experiment, model=None, **kwargs):
        super().__init__(exp, model, **kwargs)
        self.latent = self.model.mu.out_features

    def train_step(self, x: np.ndarray) -> float:
        tx = self._tensor(x)
        loss = elbo_loss(*self.model(tx, self._tensor(self.draw(len(x)))), tx)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.end_step()
        return loss.item()

    @torch.no_grad()
    def elbo(self, x: np.ndarray, eps: np.ndarray) -> tuple[float, float]:
        with eval_mode(self.model):
            logits, mu, logvar = self.model(self._tensor(x), self._tensor(eps))
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return elbo_loss(logits, mu, logvar, self._tensor(x)).item(), kl.item()

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        with eval_mode(self.model):
            m = self.model
            return m.decode(m.mu(m.encoder(self._tensor(x)))).cpu().numpy()

    @torch.no_grad()
    def sample(self, z: np.ndarray) -> np.ndarray:
        with eval_mode(self.model):
            return self.model.decode(self._tensor(z)).cpu().numpy()


def evaluate_vae(runner, x: np.ndarray) -> tuple[float, float]:
    """(negative ELBO, KL) per image over x, eval mode, eps from `eval_noise`."""
    eps = runner.draw(len(x), eval_noise(runner.exp.seed))
    return _mean_over_slices(runner, len(x), lambda s: runner.elbo(x[s], eps[s]))


def _mean_over_slices(runner, n: int, losses) -> tuple[float, float]:
    """The two losses `losses(s)` gives for each of the runner's evaluation slices `s` of `n`
    images, averaged per image (each slice weighted by its size)."""
    total = np.zeros(2)
    for s in runner.eval_slices(n):
        total += np.multiply(losses(s), len(range(n)[s]))
    return float(total[0] / n), float(total[1] / n)


# --- the GAN ------------------------------------------------------------------------------

def _no_gan_schedule(exp: Experiment) -> None:
    if exp.schedule is not None:
        raise ValueError(f"experiment {exp.name!r}: a GAN takes no learning-rate schedule "
                         f"(two optimizers), got {exp.schedule!r}")


class ScratchGAN(_Noise, ScratchRunner):
    def __init__(self, exp: Experiment, model=None):
        _no_gan_schedule(exp)
        super().__init__(exp, model)
        self.loss_fn = scratch.BCEWithLogitsLoss()
        g, d = self.model.generator, self.model.discriminator
        self.optimizer = OptimizerPair(_optimizer(scratch.optim, exp, g.parameters()),
                                       _optimizer(scratch.optim, exp, d.parameters()))
        self.latent = g.latent

    def train_step(self, x: np.ndarray) -> tuple[float, float]:
        """One alternating step on grey levels x; (discriminator loss, generator loss)."""
        gen, disc, bce = self.model.generator, self.model.discriminator, self.loss_fn
        opt_g, opt_d = self.optimizer.parts
        ones, zeros = np.ones(len(x), x.dtype), np.zeros(len(x), x.dtype)  # (N,)
        fake = gen(self.draw(len(x)))  # (N, 1, 28, 28)
        opt_d.zero_grad()
        loss_real = bce(disc(to_unit_range(x)), ones)
        disc.backward(bce.backward(), input_grad=False)
        loss_fake = bce(disc(fake), zeros)  # the fake images as data: nothing flows into gen
        disc.backward(bce.backward(), input_grad=False)
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(disc(fake), ones)  # through the updated discriminator
        gen.backward(disc.backward(bce.backward()), input_grad=False)
        opt_g.step()
        return loss_real + loss_fake, loss_g

    def losses(self, x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
        """(discriminator loss, generator loss) in eval mode on real x and G(z)."""
        gen, disc, bce = self.model.generator, self.model.discriminator, self.loss_fn
        with eval_mode(self.model):
            d_fake = disc(gen(z))
            real = bce(disc(to_unit_range(x)), np.ones(len(x), x.dtype))
            return real + bce(d_fake, np.zeros_like(d_fake)), bce(d_fake, np.ones_like(d_fake))

    def sample(self, z: np.ndarray) -> np.ndarray:
        """Images in [0, 1] of latent vectors z, eval mode."""
        with eval_mode(self.model):
            return (self.model.generator(z) + 1) / 2


class TorchGAN(_Noise, TorchRunner):
    def __init__(self, exp: Experiment, model=None, **kwargs):
        _no_gan_schedule(exp)
        super().__init__(exp, model, **kwargs)
        self.loss_fn = torch.nn.BCEWithLogitsLoss()
        g, d = self.model.generator, self.model.discriminator
        self.optimizer = OptimizerPair(_optimizer(torch.optim, exp, g.parameters()),
                                       _optimizer(torch.optim, exp, d.parameters()))
        self.latent = g.latent

    def train_step(self, x: np.ndarray) -> tuple[float, float]:
        gen, disc, bce = self.model.generator, self.model.discriminator, self.loss_fn
        opt_g, opt_d = self.optimizer.parts
        ones, zeros = (self._tensor(np.full(len(x), v, x.dtype)) for v in (1, 0))
        fake = gen(self._tensor(self.draw(len(x))))
        opt_d.zero_grad()
        loss_real = bce(disc(self._tensor(to_unit_range(x))), ones)
        loss_real.backward()
        loss_fake = bce(disc(fake.detach()), zeros)
        loss_fake.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(disc(fake), ones)
        loss_g.backward()
        opt_g.step()
        return loss_real.item() + loss_fake.item(), loss_g.item()

    @torch.no_grad()
    def losses(self, x: np.ndarray, z: np.ndarray) -> tuple[float, float]:
        gen, disc, bce = self.model.generator, self.model.discriminator, self.loss_fn
        with eval_mode(self.model):
            d_fake = disc(gen(self._tensor(z)))
            d_real = disc(self._tensor(to_unit_range(x)))
            real = bce(d_real, torch.ones_like(d_real)).item()
            return (real + bce(d_fake, torch.zeros_like(d_fake)).item(),
                    bce(d_fake, torch.ones_like(d_fake)).item())

    @torch.no_grad()
    def sample(self, z: np.ndarray) -> np.ndarray:
        with eval_mode(self.model):
            return ((self.model.generator(self._tensor(z)) + 1) / 2).cpu().numpy()


def evaluate_gan(runner, x: np.ndarray) -> tuple[float, float]:
    """(discriminator loss, generator loss) over the test images x and as many latent
    vectors from `eval_noise`, eval mode, averaged over batches by size."""
    z = runner.draw(len(x), eval_noise(runner.exp.seed))
    return _mean_over_slices(runner, len(x), lambda s: runner.losses(x[s], z[s]))


# --- both ---------------------------------------------------------------------------------

RUNNERS = {("vae", "scratch"): ScratchVAE, ("vae", "torch"): TorchVAE,
           ("gan", "scratch"): ScratchGAN, ("gan", "torch"): TorchGAN}


def generative_runner(impl: str, exp: Experiment, model=None, **kwargs):
    """The runner of twin `impl` ("scratch", "torch", "torch-cuda") for a generative `exp`,
    from `model` (default: built from the experiment's seed)."""
    if impl == "torch-cuda":
        impl, kwargs = "torch", {**kwargs, "device": "cuda"}
    if impl == "scratch":
        kwargs = {}  # the torch twin's options (shared dropout, device), as make_runner's
    try:
        cls = RUNNERS[exp.objective, impl]
    except KeyError:
        raise ValueError(f"no {impl!r} runner for objective {exp.objective!r}; expected one "
                         f"of {sorted(RUNNERS)}") from None
    return cls(exp, model, **kwargs)


def _epoch(runner, data: Data, epoch: int, bar) -> tuple[float, float | None, float]:
    """One pass over the training images: (mean loss, the GAN's mean generator loss or None,
    seconds spent stepping). Losses are averaged by batch size."""
    exp = runner.exp
    runner.begin_epoch(epoch)
    total, total_g, seen, seconds = 0.0, 0.0, 0, 0.0
    for step, idx in enumerate(batches(len(data.x_train), exp.batch_size, exp.seed, epoch)):
        x = data.x_train[idx]
        start = time.perf_counter()
        out = runner.train_step(x)
        seconds += time.perf_counter() - start
        loss, loss_g = out if isinstance(out, tuple) else (out, 0.0)
        check_finite(loss + loss_g, epoch + 1, step + 1, runner)
        total, total_g, seen = total + loss * len(idx), total_g + loss_g * len(idx), seen + len(idx)
        if bar is not None:
            bar.update(len(idx))
            bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{seen / max(seconds, 1e-9):.0f}")
    return total / seen, (total_g / seen if exp.objective == "gan" else None), seconds


def evaluate_generative(runner, x: np.ndarray) -> dict:
    """The test fields of a `GenerativeEpochRecord`."""
    if runner.exp.objective == "vae":
        loss, kl = evaluate_vae(runner, x)
        return {"test_loss": loss, "test_kl": kl}
    loss_d, loss_g = evaluate_gan(runner, x)
    return {"test_loss": loss_d, "test_generator_loss": loss_g}


def fit_generative(runner, data: Data, *, start_epoch: int = 0, history: History | None = None,
                   checkpoint=None, show_progress: bool = True, log=print) -> History:
    """`loop.fit` for a generative experiment: train the epochs, evaluate on the test images,
    checkpoint each epoch (only from finite weights and a finite test loss)."""
    exp = runner.exp
    history = history or History(exp.to_dict(), runner.impl)
    saved_epoch = None
    n = len(data.x_train)
    for epoch in range(start_epoch, exp.epochs):
        lr = runner.lr()
        loss, loss_g, seconds = checked_epoch(
            runner, lambda bar, e=epoch: _epoch(runner, data, e, bar), samples=n, epoch=epoch,
            lr=lr, checkpoint=checkpoint, saved_epoch=saved_epoch, show_progress=show_progress)
        start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged model: reported below
            test = evaluate_generative(runner, data.x_test)
        eval_seconds = time.perf_counter() - start
        if not all(math.isfinite(v) for v in test.values()):
            raise TrainingDiverged(
                f"{runner.impl}: test losses became {test} after epoch {epoch + 1} "
                f"(learning rate {lr:g}); {_kept(checkpoint, saved_epoch)}")
        runner.end_epoch()
        record = GenerativeEpochRecord(epoch + 1, loss, seconds=seconds,
                                       samples_per_second=n / seconds, lr=lr,
                                       eval_seconds=eval_seconds, train_generator_loss=loss_g,
                                       **test)
        history.epochs.append(record)
        if log is not None:
            gan = (f" (generator {loss_g:.4f}, test {record.test_generator_loss:.4f})"
                   if loss_g is not None else "")
            log(f"{runner.impl} epoch {record.epoch}: loss {loss:.4f}, test {record.test_loss:.4f}"
                f"{gan}, {seconds:.1f}s, lr {lr:.4g}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, runner, history)
            saved_epoch = record.epoch
    return history
