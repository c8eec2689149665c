"""Layer specs to scratch modules: how an experiment's `layers` become a model.

Layers are written as short strings, one per module, with input sizes inferred:

    ("linear 1024", "relu", "dropout 0.2", "linear 10")
    ("conv 32 3 pad=1", "batchnorm", "relu", "maxpool 2", "flatten", "linear 10")

The second kind takes images (layout "image", (1, 28, 28) per sample); the
parser tracks the (C, H, W) shape through convolutions and pooling, so
in_channels and the first linear layer's in_features are never written by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import scratch
from bench.experiments.config import OBJECTIVES, Experiment
from bench.experiments.generative import DCGAN, ConvVAE, dcgan_init
from bench.experiments.init import initialize
from bench.experiments.models import ImageRows, VisionTransformer, resnet
from scratch.functional import conv_output_size

INPUT_FEATURES = 784  # 28 x 28, flattened
IMAGE_SHAPE = (1, 28, 28)  # (C, H, W)

# What flows between layers: an int (features, flat input) or (C, H, W) (images).
Shape = int | tuple[int, int, int]


def input_shape(exp: Experiment) -> tuple[int, ...]:
    """One sample's input shape for `exp`: (784,) or (1, 28, 28)."""
    shapes = {"flat": (INPUT_FEATURES,), "image": IMAGE_SHAPE}
    if exp.layout not in shapes:
        raise ValueError(f"experiment {exp.name!r}: layout must be 'flat' or 'image', "
                         f"got {exp.layout!r}")
    return shapes[exp.layout]


def _args(arg: str, positional: tuple[str, ...], options: dict[str, str]) -> dict[str, str]:
    """Split "32 3 pad=1" into named values: every one of `positional` in order, then
    key=value options; `options` maps each allowed key to its default."""
    tokens = arg.split()
    pos = [t for t in tokens if "=" not in t]
    given = dict(t.split("=", 1) for t in tokens if "=" in t)
    if len(pos) != len(positional):
        raise ValueError(f"expected {' '.join(positional)} and optionally "
                         f"{' '.join(f'{k}=' for k in options)}; got {len(pos)} values")
    unknown = sorted(set(given) - set(options))
    if unknown:
        raise ValueError(f"unknown options {unknown}; expected any of {sorted(options)}")
    return {**options, **dict(zip(positional, pos)), **given}


def _int(values: dict[str, str], key: str, minimum: int) -> int:
    try:
        v = int(values[key])
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {values[key]!r}") from None
    if v < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {v}")
    return v


def _flat(shape: Shape) -> int:
    if not isinstance(shape, int):
        dims = ", ".join(map(str, shape))
        raise ValueError(f"needs flat input (N, features) but gets images (N, {dims}); "
                         "put a 'flatten' before it")
    return shape


def _image(shape: Shape) -> tuple[int, int, int]:
    if isinstance(shape, int):
        raise ValueError(f"needs image input (N, C, H, W) but gets (N, {shape}); use "
                         "layout='image' and no flatten or linear layer before it")
    return shape


def _linear(arg, shape, rng, dtype):
    return scratch.Linear(_flat(shape), int(arg), rng=rng, dtype=dtype), int(arg)


def _conv(arg, shape, rng, dtype):
    """"conv OUT K [stride=S] [pad=P] [bias=false]": a K x K Conv2d with OUT filters."""
    c, h, w = _image(shape)
    v = _args(arg, ("out_channels", "kernel_size"), {"stride": "1", "pad": "0", "bias": "true"})
    out, k = _int(v, "out_channels", 1), _int(v, "kernel_size", 1)
    stride, pad = _int(v, "stride", 1), _int(v, "pad", 0)
    if v["bias"].lower() not in ("true", "false"):
        raise ValueError(f"bias must be true or false, got {v['bias']!r}")
    conv = scratch.Conv2d(c, out, k, stride, pad, bias=v["bias"].lower() == "true", rng=rng,
                          dtype=dtype)
    return conv, (out, conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad))


def _pool(cls) -> Callable:
    """"maxpool K [stride=S] [pad=P]" / "avgpool ...": stride defaults to K, as in torch."""
    def build(arg, shape, rng, dtype):
        c, h, w = _image(shape)
        v = _args(arg, ("kernel_size",), {"stride": "", "pad": "0"})
        k, pad = _int(v, "kernel_size", 1), _int(v, "pad", 0)
        stride = _int(v, "stride", 1) if v["stride"] else k
        pool = cls(k, stride, pad)  # checks pad <= k // 2, as torch
        return pool, (c, conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad))
    return build


def _batchnorm(arg, shape, rng, dtype):
    """BatchNorm1d over features, BatchNorm2d over the channels of images."""
    if isinstance(shape, int):
        return scratch.BatchNorm1d(shape, dtype=dtype), shape
    return scratch.BatchNorm2d(shape[0], dtype=dtype), shape


def _batchnorm2d(arg, shape, rng, dtype):
    return scratch.BatchNorm2d(_image(shape)[0], dtype=dtype), shape


def _flatten(arg, shape, rng, dtype):
    return scratch.Flatten(), shape if isinstance(shape, int) else int(np.prod(shape))


def _dropout(arg, shape, rng, dtype):
    return scratch.Dropout(float(arg), rng=rng), shape


def _leaky(arg, shape, rng, dtype):
    return scratch.LeakyReLU(float(arg) if arg else 0.01), shape


def _rows(arg, shape, rng, dtype):
    """"rows lstm|gru|rnn H [layers=1]": the flat image read as 28 rows of 28 by a stack of
    `layers` recurrent layers of H units; the last step's output (N, H) goes on."""
    v = _args(arg, ("mode", "hidden_size"), {"layers": "1"})
    hidden = _int(v, "hidden_size", 1)
    if _flat(shape) != INPUT_FEATURES:
        raise ValueError(f"reads a whole {INPUT_FEATURES}-pixel image, gets {shape} features")
    return ImageRows(v["mode"], hidden, num_layers=_int(v, "layers", 1), rng=rng,
                     dtype=dtype), hidden


def _vit(arg, shape, rng, dtype):
    """"vit [patch=7] [dim=64] [heads=4] [depth=2] [ff=128]": a Vision Transformer body on
    images; its class token's features (N, dim) go on."""
    _image(shape)
    v = _args(arg, (), {"patch": "7", "dim": "64", "heads": "4", "depth": "2", "ff": "128"})
    dim = _int(v, "dim", 1)
    return VisionTransformer(_int(v, "patch", 1), dim, _int(v, "heads", 1),
                             _int(v, "depth", 1), _int(v, "ff", 1), shape[1], rng=rng,
                             dtype=dtype), dim


def _resnet(arg, shape, rng, dtype):
    """"resnet [widths=16-32-64] [blocks=2]": a ResNet body of BasicBlocks on images (one
    stage per width, `blocks` blocks each, global average pooling); its (N, last width)
    features go on."""
    c, h, w = _image(shape)
    v = _args(arg, (), {"widths": "16-32-64", "blocks": "2"})
    try:
        widths = tuple(int(t) for t in v["widths"].split("-"))
    except ValueError:
        raise ValueError(f"widths must be integers joined by '-', e.g. 16-32-64, got "
                         f"{v['widths']!r}") from None
    if min(widths) < 1:
        raise ValueError(f"widths must be >= 1, got {v['widths']!r}")
    return resnet(widths, _int(v, "blocks", 1), c, rng=rng, dtype=dtype), widths[-1]


def _plain(cls) -> Callable:
    return lambda arg, shape, rng, dtype: (cls(), shape)


# name -> builder(arg, input shape, rng, dtype) -> (module, output shape)
LAYER_BUILDERS: dict[str, Callable] = {
    "linear": _linear,
    "conv": _conv,
    "maxpool": _pool(scratch.MaxPool2d),
    "avgpool": _pool(scratch.AvgPool2d),
    "batchnorm": _batchnorm,
    "batchnorm2d": _batchnorm2d,
    "flatten": _flatten,
    "dropout": _dropout,
    "leaky_relu": _leaky,
    "relu": _plain(scratch.ReLU),
    "sigmoid": _plain(scratch.Sigmoid),
    "tanh": _plain(scratch.Tanh),
    "gelu": _plain(scratch.GELU),
    "rows": _rows,
    "vit": _vit,
    "resnet": _resnet,
}


def _channels(text: str) -> tuple[int, int]:
    try:
        c1, c2 = (int(c) for c in text.split(","))
    except ValueError:
        raise ValueError(f"channels must be two integers as 32,64, got {text!r}") from None
    if min(c1, c2) < 1:
        raise ValueError(f"channels must be >= 1, got {text!r}")
    return c1, c2


# A generative experiment's one spec: the model and its options (defaults as the classes').
GENERATIVE = {"vae": ("vae", {"latent": "20", "hidden": "256", "channels": "32,64"}),
              "gan": ("dcgan", {"latent": "64", "width": "32"})}


def build_generative(exp: Experiment, rng: np.random.Generator) -> scratch.Module:
    """The model of a generative experiment: its one layer spec, "vae [latent=20]
    [hidden=256] [channels=32,64]" (a `ConvVAE`, torch's default initialisation) or
    "dcgan [latent=64] [width=32]" (a `DCGAN`, DCGAN's N(0, 0.02^2) initialisation)."""
    if exp.objective not in OBJECTIVES[1:]:
        raise ValueError(f"experiment {exp.name!r}: objective must be one of {OBJECTIVES}, "
                         f"got {exp.objective!r}")
    kind, options = GENERATIVE[exp.objective]
    name, _, arg = exp.layers[0].partition(" ") if len(exp.layers) == 1 else ("", "", "")
    if name != kind:
        raise ValueError(f"experiment {exp.name!r}: a {exp.objective} experiment has one layer "
                         f"spec, '{kind} ...', got {list(exp.layers)}")
    dtype = np.dtype(exp.dtype)
    try:
        v = _args(arg, (), options)
        if kind == "vae":
            return ConvVAE(_int(v, "latent", 1), _int(v, "hidden", 1), _channels(v["channels"]),
                           rng=rng, dtype=dtype)
        model = DCGAN(_int(v, "latent", 1), _int(v, "width", 1), rng=rng, dtype=dtype)
    except ValueError as err:
        raise ValueError(f"experiment {exp.name!r}: layer {exp.layers[0]!r}: {err}") from None
    dcgan_init(model, rng)
    return model


def build_model(exp: Experiment, rng: np.random.Generator) -> scratch.Sequential:
    """The scratch model of `exp`, weights drawn from `rng` and then `exp.init` applied
    (a generative experiment's: `build_generative`)."""
    if exp.objective is not None:
        return build_generative(exp, rng)
    dtype = np.dtype(exp.dtype)
    first = input_shape(exp)  # checks the layout
    shape: Shape = first if len(first) == 3 else first[0]
    modules = []
    for spec in exp.layers:
        name, _, arg = spec.partition(" ")
        builder = LAYER_BUILDERS.get(name)
        if builder is None:
            raise ValueError(f"experiment {exp.name!r}: unknown layer {spec!r}; expected one of "
                             f"{sorted(LAYER_BUILDERS)}")
        try:
            module, shape = builder(arg.strip(), shape, rng, dtype)
        except ValueError as err:
            raise ValueError(f"experiment {exp.name!r}: layer {spec!r}: {err}") from None
        modules.append(module)
    model = scratch.Sequential(*modules)
    initialize(model, exp.init, rng=rng)
    return model



def architecture(exp: Experiment) -> str:
    """A one-line summary of the layers: "MLP 784-1024-1024-10; relu, dropout 0.2",
    "CNN conv 32/64/128, linear 10; batchnorm, relu, maxpool 2", "LSTM 128 over the rows,
    linear 10" or "ViT patch=7 dim=64 heads=4 depth=3 ff=128, linear 10" ("ResNet ..." likewise)."""
    widths, channels, others, body = [], [], [], None
    for spec in exp.layers:
        kind, _, arg = spec.partition(" ")
        if kind == "linear":
            widths.append(arg.split()[0])
        elif kind == "conv":
            channels.append(arg.split()[0])
        elif kind == "rows":
            cell, size = arg.split()[:2]
            body = f"{cell.upper()} {size} over the rows"
        elif kind in ("vit", "resnet"):
            body = f"{'ViT' if kind == 'vit' else 'ResNet'} {arg}"
        elif kind in ("vae", "dcgan"):
            return f"{'conv VAE' if kind == 'vae' else 'DCGAN'} {arg}".strip()
        elif kind != "flatten" and spec not in others:
            others.append(spec)
    if body:
        head = f"{body}, linear {'-'.join(widths)}"
    elif channels:
        head = f"CNN conv {'/'.join(channels)}, linear {'-'.join(widths)}"
    else:
        head = f"MLP {'-'.join([str(INPUT_FEATURES), *widths])}"
    return f"{head}; {', '.join(others)}" if others else head
