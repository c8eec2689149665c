"""The named experiments: `EXPERIMENTS` and `get_experiment`.

`seed-000` ... `seed-004` reproduce the from-scratch write-ups this project
grew out of, each with the accuracy it claims; `mlp` and `mlp-fashion` are
strong MLPs that show what the same hand-written code reaches when trained well,
`cnn` and `cnn-fashion` small batch-normalised CNNs that do the same for convolutions;
`lstm`, `gru-fashion` (images read row by row) and `vit` (a small Vision Transformer)
do it for recurrence and attention, and `resnet-fashion` (a ResNet of BasicBlocks) for
residual networks, built from the models of one's own in `models.py`.
The `speedrun-*` entries are built for time to accuracy on 2 cores (`measure.tta`).
The `ci-*` entries are the test suite's fast accuracy checks.
"""

from __future__ import annotations

import json

from bench.experiments.config import Experiment


def _mlp(dataset: str, name: str, epochs: int, target: float, description: str) -> Experiment:
    return Experiment(
        name=name, dataset=dataset,
        layers=("linear 1024", "relu", "dropout 0.2", "linear 1024", "relu", "dropout 0.2",
                "linear 10"),
        init="kaiming_uniform",
        optimizer="SGD", optimizer_args={"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                         "weight_decay": 5e-4},
        schedule="CosineAnnealingLR", schedule_args={"T_max": epochs},
        batch_size=128, epochs=epochs, standardize=True, description=description,
        target_accuracy=target,
    )


_CONV_BLOCK = ("conv {} 3 pad=1 bias=false", "batchnorm", "relu", "maxpool 2")


def _cnn(dataset: str, name: str, channels: tuple[int, ...], epochs: int, target: float,
         description: str) -> Experiment:
    """Conv blocks (3x3 conv / batch norm / ReLU / 2x2 max pool, 28 -> 14 -> 7 -> 3), then
    dropout and one linear layer.

    The convs carry no bias: the batch norm after each would cancel it. AdamW rather
    than SGD: the last layer sums thousands of batch-normalised features, so a plain
    SGD step moves its logits in proportion to that count and needs a learning rate
    far below the MLPs'; Adam's per-weight step size does not depend on it.
    """
    blocks = tuple(spec.format(c) for c in channels for spec in _CONV_BLOCK)
    return Experiment(
        name=name, dataset=dataset, layout="image",
        layers=(*blocks, "flatten", "dropout 0.25", "linear 10"),
        optimizer="AdamW", optimizer_args={"lr": 1e-3, "weight_decay": 0.01},
        schedule="CosineAnnealingLR", schedule_args={"T_max": epochs},
        batch_size=128, epochs=epochs, standardize=True, description=description,
        target_accuracy=target,
    )


# conv -> max pool -> batch norm -> ReLU, as the CIFAR-10 speedruns order it (airbench):
# pooling first gives batch norm and ReLU a quarter of the elements, and max pooling
# commutes with ReLU, so the net computes nearly what conv/BN/ReLU/pool would.
_SPEED_BLOCK = ("conv {} 3 pad=1 bias=false", "maxpool 2", "batchnorm", "relu")


def _speedrun(dataset: str, name: str, layers: tuple[str, ...], epochs: int, max_lr: float,
              target: float, description: str, layout: str = "image",
              betas: tuple[float, float] | None = None) -> Experiment:
    """A recipe for time to accuracy: Adam with a one-cycle schedule over `epochs`
    (stepped per batch), batch 256, inputs standardized once in memory as float32 in the
    first layer's layout. The cycle is short enough that the target falls in its last
    epochs; `measure.tta.BUDGETS` holds the time each must beat."""
    return Experiment(
        name=name, dataset=dataset, layout=layout, layers=layers,
        optimizer="Adam",
        optimizer_args={"lr": max_lr, **({"betas": betas} if betas else {})},
        schedule="OneCycleLR", schedule_args={"max_lr": max_lr},
        batch_size=256, epochs=epochs, standardize=True, description=description,
        target_accuracy=target)


# tuomaso/train_mnist_fast (99.04% on MNIST in one epoch on a GPU, mean of 30 seeds): max
# pooling before ReLU, no batch norm, no dropout.
_TUOMASO_CNN = ("conv 24 5", "maxpool 2", "relu", "conv 32 3", "maxpool 2", "relu", "flatten",
                "linear 256", "relu", "linear 10")


def _speed_cnn(*channels: int) -> tuple[str, ...]:
    """The speed blocks, then a hidden layer of 128: on Fashion-MNIST it adds about a
    point by the fourth epoch for a few percent of the step, where wider convs (24/48)
    add as much for twice the step."""
    return (*(spec.format(c) for c in channels for spec in _SPEED_BLOCK), "flatten",
            "linear 128", "relu", "linear 10")


SEED_000 = Experiment(
    name="seed-000", dataset="mnist", layers=("linear 128", "relu", "linear 10"),
    init="normal", optimizer="SGD", optimizer_args={"lr": 0.1},
    schedule="InverseTimeLR", schedule_args={"decay": 0.5},
    batch_size=32, epochs=2,
    description="write-up 000: small-init MLP, lr decay, two epochs on MNIST",
    claim="over 90% on the MNIST test set after two epochs", claimed_accuracy=90.0,
)


def _rows(dataset: str, name: str, mode: str, epochs: int, target: float, description: str,
          **overrides) -> Experiment:
    """The image read row by row (28 steps of 28 pixels) by an LSTM or GRU of 128 units,
    then a linear head on the last step. Adam: recurrent weights want per-weight steps."""
    return Experiment(
        name=name, dataset=dataset, layers=(f"rows {mode} 128", "linear 10"),
        optimizer="Adam", optimizer_args={"lr": 2e-3},
        schedule="CosineAnnealingLR", schedule_args={"T_max": epochs},
        batch_size=128, epochs=epochs, standardize=True, description=description,
        target_accuracy=target).with_overrides(**overrides)


def _vit(name: str, epochs: int, target: float, description: str, **overrides) -> Experiment:
    """7x7 patches (16 tokens and a class token), d_model 64, 4 heads, pre-norm GELU
    encoder, a linear head on the class token; AdamW, cosine."""
    return Experiment(
        name=name, dataset="mnist", layout="image",
        layers=("vit patch=7 dim=64 heads=4 depth=3 ff=128", "linear 10"),
        optimizer="AdamW", optimizer_args={"lr": 1e-3, "weight_decay": 0.05},
        schedule="CosineAnnealingLR", schedule_args={"T_max": epochs},
        batch_size=128, epochs=epochs, standardize=True, description=description,
        target_accuracy=target).with_overrides(**overrides)


def _resnet(name: str, epochs: int, target: float, description: str,
            **overrides) -> Experiment:
    """A ResNet of BasicBlocks (widths 16/32/64, two blocks per stage: 13 convolutions and
    the head, 175k weights) on Fashion-MNIST, global average pooling, a linear head.

    SGD with Nesterov momentum and weight decay 5e-4 under a one-cycle schedule stepped per
    batch: the ResNet papers' optimizer, with the cycle's warm-up standing in for their
    fixed warm-up epochs. He-normal weights (kaiming_normal), as the ResNet papers draw
    them. No augmentation: the training loop has none, so the weight decay and the
    residual network's own bias are the regularisers."""
    return Experiment(
        name=name, dataset="fashion-mnist", layout="image",
        layers=("resnet widths=16-32-64 blocks=2", "linear 10"), init="kaiming_normal",
        optimizer="SGD", optimizer_args={"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                         "weight_decay": 5e-4},
        schedule="OneCycleLR", schedule_args={"max_lr": 0.1},
        batch_size=128, epochs=epochs, standardize=True, description=description,
        target_accuracy=target).with_overrides(**overrides)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    # Keras's reference MLP reports 98.40%; Simard et al. (2003) 98.4% with 800 hidden units.
    _mlp("mnist", "mlp", 20, 98.5, "784-1024-1024-10 ReLU MLP, dropout 0.2, SGD Nesterov, cosine"),
    # The Fashion-MNIST paper's MLP baselines reach 87.0-87.7%.
    _mlp("fashion-mnist", "mlp-fashion", 30, 89.5,
         "784-1024-1024-10 ReLU MLP on Fashion-MNIST, dropout 0.2, SGD Nesterov, cosine"),
    # Keras's reference CNN (two convs, max pool, dropout, dense 128) reports 99.25%. Three
    # blocks leave a margin over the 99.3 target that two do not, and the same
    # architecture then serves both data sets.
    _cnn("mnist", "cnn", (32, 64, 128), 12, 99.3,
         "conv32/64/128 blocks with BN and max pool, dropout, linear (104k weights); AdamW, "
         "cosine"),
    # The Fashion-MNIST benchmark lists 2-conv CNNs under 100K parameters at 92.5%;
    # the third block (104k weights in all) gives the margin over that target.
    _cnn("fashion-mnist", "cnn-fashion", (32, 64, 128), 15, 92.5,
         "conv32/64/128 blocks with BN and max pool, dropout, linear; AdamW, cosine"),
    SEED_000,
    # The same network, unchanged, on Fashion-MNIST, as write-up 000 reports it.
    SEED_000.with_overrides(
        name="seed-000-fashion", dataset="fashion-mnist",
        description="write-up 000, Fashion-MNIST part: the same network unchanged",
        claim="~85% on Fashion-MNIST with no architectural change", claimed_accuracy=85.0,
    ),
    Experiment(
        name="seed-001", dataset="mnist",
        layers=("linear 128", "relu", "linear 64", "relu", "linear 10"),
        init="normal", optimizer="SGD", optimizer_args={"lr": 0.1},
        batch_size=64, epochs=5,
        description="write-up 001: the network it ended with (ReLU hidden layers after sigmoid "
                    "saturated), softmax output, small random init",
        claim="95%+ accuracy on digit recognition", claimed_accuracy=95.0,
    ),
    Experiment(
        name="seed-002", dataset="mnist",
        layers=("linear 128", "leaky_relu 0.01", "linear 64", "leaky_relu 0.01", "linear 10"),
        init="kaiming_normal", optimizer="SGD", optimizer_args={"lr": 0.05},
        batch_size=32, epochs=5,
        description="write-up 002: He init, leaky ReLU, mini-batch SGD (Nielsen style)",
        claim="no accuracy stated", claimed_accuracy=None,
    ),
    Experiment(
        name="seed-003", dataset="mnist", layers=("linear 10", "relu", "linear 10"),
        init="normal", optimizer="SGD", optimizer_args={"lr": 0.1},
        batch_size=0, epochs=500,
        description="write-up 003: 784-10-10 ReLU/softmax, full-batch gradient descent",
        claim="85% train, 84% validation", claimed_accuracy=84.0,
    ),
    Experiment(
        name="seed-004", dataset="mnist", layers=("linear 10", "relu", "linear 10"),
        init="normal", optimizer="SGD", optimizer_args={"lr": 0.5},
        schedule="StepLR", schedule_args={"step_size": 200, "gamma": 0.5},
        batch_size=0, epochs=500,
        description="write-up 004: 784-10-10 ReLU/softmax, batch gradient descent, step decay",
        claim="~79% on an MNIST subset", claimed_accuracy=79.0,
    ),
    Experiment(
        name="ci-mlp", dataset="mnist",
        layers=("linear 512", "batchnorm", "relu", "linear 10"),
        init="kaiming_uniform", optimizer="SGD", optimizer_args={"lr": 0.1, "momentum": 0.9},
        schedule="ExponentialLR", schedule_args={"gamma": 0.2},
        batch_size=32, epochs=2, standardize=True, train_subset=10_000, target_accuracy=95.0,
        description="CI's fast check: 2 epochs on 10,000 MNIST images",
    ),
    Experiment(
        name="ci-cnn", dataset="mnist", layout="image",
        layers=("conv 8 3 pad=1 bias=false", "batchnorm", "relu", "maxpool 2",
                "conv 16 3 pad=1 bias=false", "batchnorm", "relu", "maxpool 2",
                "flatten", "linear 10"),
        optimizer="SGD", optimizer_args={"lr": 0.02, "momentum": 0.9},
        schedule="ExponentialLR", schedule_args={"gamma": 0.2},
        batch_size=32, epochs=2, standardize=True, train_subset=10_000, target_accuracy=95.0,
        description="CI's fast CNN check: 2 epochs on 10,000 MNIST images",
    ),
    # Sequential MNIST, row by row: LSTMs of 128 units reach ~98.5-99% (e.g. the
    # Keras and PyTorch examples); the target.
    _rows("mnist", "lstm", "lstm", 12, 98.5,
          "LSTM(28, 128) over the 28 rows, linear head on the last step; Adam, cosine"),
    _rows("fashion-mnist", "gru-fashion", "gru", 15, 89.0,
          "GRU(28, 128) over the 28 rows of Fashion-MNIST, linear head; Adam, cosine"),
    _vit("vit", 20, 98.0, "ViT: 7x7 patches, class token, positional embedding, 3 pre-norm "
         "encoder layers (d_model 64, 4 heads), head on the class token; AdamW, cosine"),
    # The CPU speedruns (budgets in `measure.tta.BUDGETS`): MNIST 99% with a CNN, Fashion-MNIST
    # 91%, MNIST 98% with an MLP (tuomaso/train_mnist_fast reaches 99% in 0.76 s on a laptop GPU).
    _speedrun("mnist", "speedrun-mlp", ("linear 512", "relu", "linear 10"), 4, 3e-3, 98.0,
              "speedrun: 784-512-10 ReLU MLP, Adam one-cycle, batch 256", layout="flat"),
    # tuomaso/train_mnist_fast's recipe, over 2 epochs: every one of 5 seeds at 99.1-99.3%
    # after the second (torch twin), where the 16/32 blocks with batch norm took 3-4 epochs
    # (speedrun-cnn, 2 cores: scratch 58.2 s, torch 20.7 s; this one, seed 0: 37.1, 15.2)
    _speedrun("mnist", "speedrun-cnn", _TUOMASO_CNN, 2, 1e-2, 99.0,
              "speedrun: conv 5x5 24, max pool, ReLU, conv 3x3 32, max pool, ReLU, linear 256, "
              "linear (tuomaso/train_mnist_fast); Adam (0.7, 0.9) one-cycle, batch 256",
              betas=(0.7, 0.9)),
    # The 16/32 blocks over 3 epochs: 91.27-91.68% in 5 seeds (torch twin), where 4 epochs
    # were run before. Tried over 2 epochs (5 seeds, torch), each with a seed under 91% or
    # within 0.1 point of it: this recipe (90.5-90.8), with Adam (0.7, 0.9) at 1e-2
    # (90.95-91.41), also with a hidden layer of 256 (91.08-91.39), convs 24/32 (90.99-),
    # and tuomaso's with batch norm (90.35-90.5).
    _speedrun("fashion-mnist", "speedrun-fashion", _speed_cnn(16, 32), 3, 4e-3, 91.0,
              "speedrun: conv16/32 blocks (conv, max pool, BN, ReLU), linear 128, linear; "
              "Adam one-cycle, batch 256"),
    # CI targets sit a few points under what one epoch measured (83.3, 73.4, 62.3).
    _rows("mnist", "ci-lstm", "lstm", 1, 80.0,
          "CI's fast LSTM check: 1 epoch on 5,000 MNIST images",
          train_subset=5_000, batch_size=32),
    _rows("fashion-mnist", "ci-gru-fashion", "gru", 1, 70.0,
          "CI's fast GRU check: 1 epoch on 5,000 Fashion-MNIST images",
          train_subset=5_000, batch_size=32),
    # issue 31: the published small-CNN reference on Fashion-MNIST is 92.5-93.2%.
    _resnet("resnet-fashion", 15, 93.5,
            "ResNet 16/32/64, two BasicBlocks per stage, global average pooling, linear; "
            "SGD Nesterov, weight decay, one-cycle"),
    _resnet("ci-resnet", 1, 70.0, "CI's fast ResNet check: widths 8/16/32, one BasicBlock "
            "per stage, 1 epoch on 5,000 Fashion-MNIST images", train_subset=5_000,
            batch_size=32, layers=("resnet widths=8-16-32 blocks=1", "linear 10")),
    _vit("ci-vit", 1, 60.0, "CI's fast ViT check: a one-layer d_model 32 ViT, 1 epoch on "
         "5,000 MNIST images", train_subset=5_000, batch_size=32,
         layers=("vit patch=7 dim=32 heads=4 depth=1 ff=64", "linear 10"),
         optimizer_args={"lr": 3e-3, "weight_decay": 0.05}),
]}


# Generative twins (issue 31): the experiments' `objective` picks `bench.training.generative`'s
# loop; inputs are grey levels in [0, 1], not standardised (the VAE's BCE needs them so).
def _vae(name: str, epochs: int, description: str, **overrides) -> Experiment:
    """A convolutional VAE (conv 32/64, dense 256, latent 20, mirrored by transposed
    convolutions), loss BCE summed over the pixels + KL; Adam, cosine."""
    return Experiment(
        name=name, dataset="mnist", layout="image", objective="vae",
        layers=("vae latent=20 hidden=256 channels=32,64",),
        optimizer="Adam", optimizer_args={"lr": 1e-3},
        schedule="CosineAnnealingLR", schedule_args={"T_max": epochs},
        batch_size=128, epochs=epochs, description=description).with_overrides(**overrides)


def _dcgan(name: str, epochs: int, description: str, **overrides) -> Experiment:
    """DCGAN (Radford et al. 2015) for 28 x 28: generator convT 7x7 / 4x4 / 4x4 with batch
    norm, discriminator conv 4x4 / 4x4 / 7x7 with LeakyReLU 0.2; their Adam, lr 2e-4 and
    betas (0.5, 0.999), one each; constant learning rate."""
    return Experiment(
        name=name, dataset="mnist", layout="image", objective="gan",
        layers=("dcgan latent=64 width=32",),
        optimizer="Adam", optimizer_args={"lr": 2e-4, "betas": (0.5, 0.999)},
        batch_size=128, epochs=epochs, description=description).with_overrides(**overrides)


EXPERIMENTS.update({e.name: e for e in [
    # pytorch/examples' MLP VAE (400 hidden, 20 latent) reports about 104 after 10 epochs.
    _vae("vae-mnist", 20, "convolutional VAE (latent 20), BCE summed + KL, Adam, cosine; "
         "target: test negative ELBO <= 105 per image", target_loss=105.0),
    _dcgan("dcgan-mnist", 10, "DCGAN (latent 64, width 32), BCEWithLogits, two Adams, "
           "alternating steps"),
    # CI's bound sits a few units above what the epoch measured (204.4; 543 at the start).
    _vae("ci-vae", 1, "CI's fast VAE check: 1 epoch on 2,000 MNIST images",
         train_subset=2_000, batch_size=32, target_loss=215.0),
    _dcgan("ci-dcgan", 1, "CI's fast DCGAN check: 1 epoch on 1,000 MNIST images",
           train_subset=1_000, batch_size=32),
]})


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(f"unknown experiment {name!r}; expected one of "
                         f"{', '.join(sorted(EXPERIMENTS))}") from None


# What a run may change of a named experiment (the CLI's --epochs, --seed, --dtype), with
# the bounds a recorded value must keep; every other field that shapes the model or its
# training must be the registry's own.
OVERRIDABLE = {"epochs": (1, 10**6), "seed": (0, 2**63 - 1)}
DTYPES = ("float32", "float64")
DESCRIPTIVE = ("description", "claim", "claimed_accuracy", "target_accuracy", "target_loss")


def _plain(value):
    """`value` as JSON gives it back (tuples become lists), so records compare equal."""
    return json.loads(json.dumps(value))


def recorded_experiment(recorded) -> Experiment:
    """The registry's experiment a recorded one (a checkpoint's, as `Experiment.to_dict`
    wrote it) was run as, with its epochs, seed and dtype.

    The model is then built from the registry's recipe, never from the record's own
    strings. Raises ValueError naming what is unknown, out of bounds, or differs from the
    registry (layers, optimizer, schedule, data, ...).
    """
    if not isinstance(recorded, dict) or not isinstance(recorded.get("name"), str):
        raise ValueError(f"expected an experiment record with a name, got {recorded!r:.80}")
    name = recorded["name"]
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of "
                         f"{', '.join(sorted(EXPERIMENTS))}")
    overrides = {}
    for key, (low, high) in OVERRIDABLE.items():
        value = recorded.get(key)
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"experiment {name!r}: {key} must be an integer in "
                             f"[{low}, {high}], got {value!r:.40}")
        overrides[key] = value
    if recorded.get("dtype") not in DTYPES:
        raise ValueError(f"experiment {name!r}: dtype must be one of {DTYPES}, got "
                         f"{recorded.get('dtype')!r:.40}")
    exp = EXPERIMENTS[name].with_overrides(dtype=recorded["dtype"], **overrides)
    expected = _plain(exp.to_dict())
    differ = [f"{k}: recorded {recorded.get(k, '(none)')!r:.80}, registry {v!r:.80}"
              for k, v in expected.items()
              if k not in DESCRIPTIVE and _plain(recorded.get(k)) != v]
    unknown = sorted(set(recorded) - set(expected))
    if differ or unknown:
        raise ValueError(f"experiment {name!r} differs from the registry's: "
                         + "; ".join(differ + [f"unknown fields {unknown}"] * bool(unknown)))
    return exp
