"""What the speed suite times: one model, one batch, one twin, one phase.

A `Workload` builds a scratch model, its torch twin from the same weights,
an SGD optimizer for each and a fixed random batch, and exposes the three
phases the suite times: `forward` (eval mode, no gradient bookkeeping),
`backward` (after an untimed forward) and `step` (forward, backward and the
optimizer update). FLOP counts are analytic, so achieved GFLOP/s can be set
against the machine's matmul ceiling. An `OpWorkload` times one layer alone;
a layer of several inputs (a loss's input and target, CosineSimilarity's x1 and
x2) names their shapes as a list (`input_shapes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import scratch

# name -> layer widths (MLPs) or a CNN spec; input is 784 pixels (MLP) or (1, 28, 28) (CNN)
MLPS = {
    "mlp-128": (784, 128, 10),
    "mlp-512-256": (784, 512, 256, 10),
    "mlp-2048-2048": (784, 2048, 2048, 10),
}
CNNS = {
    # conv(1->16, 3, pad 1) ReLU maxpool2, conv(16->32, 3, pad 1) ReLU maxpool2, linear(1568->10)
    "cnn-16-32": ((16, 32), 10),
}
# Sequence models (bench.experiments.models): an LSTM reading 28 rows of 28 pixels with
# a linear head, and the ViT body (7x7 patches, d_model 64, 4 heads, 2 layers) with one.
SEQUENCES = {
    "lstm-128": ("lstm", 128),
    "vit-64": ("vit", 64),
}
# The ResNet body of resnet-fashion (bench.experiments.models.resnet: widths, blocks per
# stage) and its linear head.
RESNETS = {
    "resnet-16-32-64": ((16, 32, 64), 2),
}
PHASES = ("forward", "backward", "step")
# Generative training steps (issue 31): the DCGAN's alternating step, both networks and both
# Adams (bench.training.generative), on MNIST-shaped images; name -> (experiment, width).
GENERATIVE = {"dcgan-32": ("dcgan-mnist", 32)}

# The per-operation cases: one layer at the shapes it has inside cnn-16-32 (or the MLP),
# name -> (layer factory, input shape for batch b, multiply-adds per sample or None).
# They show where the time of a training step goes, layer by layer.
_MAP = (16, 28, 28)  # the first conv's output: (C, H, W)
OPS = {
    "conv2d-1-16": (lambda dt, r: scratch.Conv2d(1, 16, 3, padding=1, rng=r, dtype=dt),
                    lambda b: (b, 1, 28, 28), 28 * 28 * 16 * 9),
    "conv2d-16-32": (lambda dt, r: scratch.Conv2d(16, 32, 3, padding=1, rng=r, dtype=dt),
                     lambda b: (b, 16, 14, 14), 14 * 14 * 32 * 16 * 9),
    "maxpool2d-2": (lambda dt, r: scratch.MaxPool2d(2), lambda b: (b, *_MAP), None),
    "avgpool2d-2": (lambda dt, r: scratch.AvgPool2d(2), lambda b: (b, *_MAP), None),
    "batchnorm2d-16": (lambda dt, r: scratch.BatchNorm2d(16, dtype=dt),
                       lambda b: (b, *_MAP), None),
    "linear-784-128": (lambda dt, r: scratch.Linear(784, 128, rng=r, dtype=dt),
                       lambda b: (b, 784), 784 * 128),
    "relu": (lambda dt, r: scratch.ReLU(), lambda b: (b, *_MAP), None),
    "gelu": (lambda dt, r: scratch.GELU(), lambda b: (b, *_MAP), None),
    "sigmoid": (lambda dt, r: scratch.Sigmoid(), lambda b: (b, *_MAP), None),
    "tanh": (lambda dt, r: scratch.Tanh(), lambda b: (b, *_MAP), None),
    # a DCGAN generator's upsampling step: 7x7 -> 14x14
    "convtranspose2d-32-16": (
        lambda dt, r: scratch.ConvTranspose2d(32, 16, 4, 2, 1, rng=r, dtype=dt),
        lambda b: (b, 32, 7, 7), 7 * 7 * 32 * 16 * 16),
    # issue 31
    "prelu-16": (lambda dt, r: scratch.PReLU(16, dtype=dt), lambda b: (b, *_MAP), None),
    "hardswish": (lambda dt, r: scratch.Hardswish(), lambda b: (b, *_MAP), None),
    "mish": (lambda dt, r: scratch.Mish(), lambda b: (b, *_MAP), None),
}
# issue 31, item 1: group and instance norm, adaptive max and 1-D pools
OPS.update({
    "groupnorm-4-16": (lambda dt, r: scratch.GroupNorm(4, 16, dtype=dt),
                       lambda b: (b, *_MAP), None),
    "instancenorm2d-16": (lambda dt, r: scratch.InstanceNorm2d(16, affine=True, dtype=dt),
                          lambda b: (b, *_MAP), None),
    "adaptivemaxpool2d-7": (lambda dt, r: scratch.AdaptiveMaxPool2d(7),
                            lambda b: (b, *_MAP), None),
    "maxpool1d-2": (lambda dt, r: scratch.MaxPool1d(2), lambda b: (b, 16, 784), None),
    "avgpool1d-2": (lambda dt, r: scratch.AvgPool1d(2), lambda b: (b, 16, 784), None),
})
# issue 31, item 1: a DCGAN-style decoder's resize, 14x14 -> 28x28
OPS.update({
    "upsample-nearest-2": (lambda dt, r: scratch.Upsample(scale_factor=2),
                           lambda b: (b, 16, 14, 14), None),
    "upsample-bilinear-2": (lambda dt, r: scratch.Upsample(scale_factor=2, mode="bilinear"),
                            lambda b: (b, 16, 14, 14), None),
})
# issue 31, item 1: the two layers of two inputs, at the feature maps' shape: KL divergence
# between per-pixel distributions over the 16 channels (log-probabilities on both sides, so
# that standard normal draws are valid targets), cosine similarity along the channels
OPS.update({
    "kldivloss": (lambda dt, r: scratch.KLDivLoss(reduction="batchmean", log_target=True),
                  lambda b: [(b, *_MAP), (b, *_MAP)], None),
    "cosinesimilarity": (lambda dt, r: scratch.CosineSimilarity(dim=1),
                         lambda b: [(b, *_MAP), (b, *_MAP)], None),
})
OP_PHASES = ("forward", "backward")


def build_scratch(arch: str, dtype, rng: np.random.Generator) -> scratch.Sequential:
    if arch in RESNETS:
        from bench.experiments.models import resnet

        widths, blocks = RESNETS[arch]
        return scratch.Sequential(resnet(widths, blocks, rng=rng, dtype=dtype),
                                  scratch.Linear(widths[-1], 10, rng=rng, dtype=dtype))
    if arch in SEQUENCES:
        from bench.experiments.models import ImageRows, VisionTransformer

        kind, width = SEQUENCES[arch]
        body = (ImageRows("lstm", width, rng=rng, dtype=dtype) if kind == "lstm" else
                VisionTransformer(7, width, 4, 2, 2 * width, rng=rng, dtype=dtype))
        return scratch.Sequential(body, scratch.Linear(width, 10, rng=rng, dtype=dtype))
    if arch in MLPS:
        widths = MLPS[arch]
        layers: list[scratch.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(scratch.Linear(a, b, rng=rng, dtype=dtype))
            if i < len(widths) - 2:
                layers.append(scratch.ReLU())
        return scratch.Sequential(*layers)
    (c1, c2), classes = CNNS[arch]
    return scratch.Sequential(
        scratch.Conv2d(1, c1, 3, padding=1, rng=rng, dtype=dtype), scratch.ReLU(),
        scratch.MaxPool2d(2),
        scratch.Conv2d(c1, c2, 3, padding=1, rng=rng, dtype=dtype), scratch.ReLU(),
        scratch.MaxPool2d(2),
        scratch.Flatten(), scratch.Linear(c2 * 7 * 7, classes, rng=rng, dtype=dtype),
    )


def input_shapes(arch: str, batch: int) -> list[tuple[int, ...]]:
    """The shape of each input the case's forward takes, in order: one for a network, one
    or several for an operation (its shape rule returns a list for several)."""
    if arch in OPS:
        shapes = OPS[arch][1](batch)
        return list(shapes) if isinstance(shapes, list) else [shapes]
    flat = arch in MLPS or SEQUENCES.get(arch, ("",))[0] == "lstm"
    return [(batch, 784) if flat else (batch, 1, 28, 28)]


def _dcgan_macs(width: int, latent: int = 64) -> float:
    """Multiply-adds per image of one DCGAN step: the generator's forward, the
    discriminator's three (real, fake, fake again for the generator), and their backwards
    (twice the forward's; the generator's first layer needs no input gradient, counted
    anyway as the bound it is)."""
    gen = latent * 4 * width * 49 + 49 * 4 * width * 2 * width * 16 + 196 * 2 * width * 16
    disc = 196 * width * 16 + 49 * 2 * width * width * 16 + 2 * width * 49
    return 3 * gen + 3 * 3 * disc


def train_flops(arch: str, batch: int) -> float:
    """Multiply-adds x 2 of one training step (forward 1x, backward 2x the matmuls);
    for an operation, of its forward and backward. NaN where no matmul dominates."""
    if arch in GENERATIVE:
        return 2.0 * _dcgan_macs(GENERATIVE[arch][1]) * batch
    if arch in OPS:
        macs = OPS[arch][2]
        return float("nan") if macs is None else 2.0 * 3 * macs * batch
    if arch in SEQUENCES:
        kind, h = SEQUENCES[arch]
        if kind == "lstm":  # 28 steps of the 4 gates over [x_t, h_{t-1}], then the head
            macs = 28 * 4 * h * (28 + h) + h * 10
        else:  # 16 patch embeddings; per layer and token qkv, out, feed-forward; attention
            tokens, layers = 17, 2
            per_layer = tokens * (4 * h * h + 2 * h * 2 * h) + 2 * tokens * tokens * h
            macs = 16 * 49 * h + layers * per_layer + h * 10
    elif arch in RESNETS:
        macs = resnet_macs(*RESNETS[arch]) + RESNETS[arch][0][-1] * 10
    elif arch in MLPS:
        w = MLPS[arch]
        macs = sum(a * b for a, b in zip(w[:-1], w[1:]))
    else:
        (c1, c2), classes = CNNS[arch]
        macs = 28 * 28 * c1 * 9 + 14 * 14 * c2 * c1 * 9 + c2 * 7 * 7 * classes
    return 2.0 * 3 * macs * batch


def resnet_macs(widths: tuple[int, ...], blocks: int, size: int = 28) -> int:
    """Multiply-adds per sample of `bench.experiments.models.resnet`'s convolutions: the
    stem, two 3x3 convolutions per block, and the 1x1 shortcut where a stage changes width."""
    macs, channels = size * size * widths[0] * 9, widths[0]  # the stem, from one channel
    for stage, width in enumerate(widths):
        for block in range(blocks):
            if stage > 0 and block == 0:
                size = (size + 1) // 2  # stride 2, padding 1: ceil(size / 2)
            macs += size * size * width * (channels * 9 + width * 9)
            if channels != width:
                macs += size * size * width * channels
            channels = width
    return macs


@dataclass
class _Timed:
    """What every timed case holds: the scratch model, its input, and on the torch side
    the twin (same weights) on its device and a `sync` that waits for the device."""

    arch: str
    impl: str  # "scratch", "torch" or "torch-cuda"
    batch: int
    dtype: str
    seed: int = 0

    def _build(self, make_model) -> np.random.Generator:
        """self.model = make_model(dtype, rng) and standard normal inputs self.xs (self.x the
        first); returns the rng for whatever else the case draws."""
        rng = np.random.default_rng(self.seed)
        dt = np.dtype(self.dtype)
        self.model = make_model(dt, rng)
        self.xs = [rng.standard_normal(shape).astype(dt)
                   for shape in input_shapes(self.arch, self.batch)]
        self.x = self.xs[0]
        return rng

    def _build_torch(self) -> str:
        """The torch twin on its device; returns the device."""
        import torch

        import reference

        device = "cuda" if self.impl == "torch-cuda" else "cpu"
        self.tmodel = reference.twin(self.model).to(device)
        self.txs = [torch.from_numpy(x).to(device) for x in self.xs]
        self.tx = self.txs[0]
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.torch = torch
        return device


@dataclass
class Workload(_Timed):
    """A whole network: forward in eval mode, backward of the loss, a full SGD step."""

    def __post_init__(self):
        rng = self._build(lambda dt, r: build_scratch(self.arch, dt, r))
        self.y = rng.integers(0, 10, self.batch)
        if self.impl == "scratch":
            self.loss_fn = scratch.CrossEntropyLoss()
            self.opt = scratch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
            return
        device = self._build_torch()
        self.ty = self.torch.from_numpy(self.y).to(device)
        self.tloss_fn = self.torch.nn.CrossEntropyLoss()
        self.topt = self.torch.optim.SGD(self.tmodel.parameters(), lr=1e-3, momentum=0.9)

    # --- the three phases ----------------------------------------------------------

    def forward(self):
        if self.impl == "scratch":
            self.model.eval()
            return self.model(self.x)
        self.tmodel.eval()
        with self.torch.no_grad():
            out = self.tmodel(self.tx)
        self.sync()
        return out

    def prepare_backward(self) -> None:
        """The untimed forward pass that `backward` differentiates."""
        if self.impl == "scratch":
            self.model.train()
            self.loss_fn(self.model(self.x), self.y)
            self.model.zero_grad()
        else:
            self.tmodel.train()
            self.topt.zero_grad()
            self._tloss = self.tloss_fn(self.tmodel(self.tx), self.ty)
            self.sync()

    def backward(self):
        if self.impl == "scratch":
            # torch computes no gradient for the input, which does not require one; nor does this
            return self.model.backward(self.loss_fn.backward(), input_grad=False)
        self._tloss.backward()
        self.sync()

    def step(self):
        if self.impl == "scratch":
            self.model.train()
            loss = self.loss_fn(self.model(self.x), self.y)
            self.opt.zero_grad()
            self.model.backward(self.loss_fn.backward(), input_grad=False)
            self.opt.step()
            return loss
        self.tmodel.train()
        loss = self.tloss_fn(self.tmodel(self.tx), self.ty)
        self.topt.zero_grad()
        loss.backward()
        self.topt.step()
        self.sync()
        return loss


@dataclass
class OpWorkload(_Timed):
    """One layer alone, both twins from the same weights: `forward` in train mode (what a
    training step runs), `backward` from a fixed random upstream gradient, dL/dx included
    (inside a network every layer but the first computes it). With several inputs, the
    gradient of each that scratch's backward returns: all of them, or a loss's input alone
    (its target needs none, and scratch's backward computes none by default)."""

    def __post_init__(self):
        rng = self._build(lambda dt, r: OPS[self.arch][0](dt, r))
        out = self.model(*self.xs)  # a Python float for a reduced loss
        self.g = rng.standard_normal(np.shape(out)).astype(self.x.dtype)  # () for a loss
        if self.impl != "scratch":
            device = self._build_torch()
            self.grad_inputs = self.txs[:1] if isinstance(self.model, scratch.Loss) else self.txs
            for t in self.grad_inputs:
                t.requires_grad_()
            self.tg = self.torch.from_numpy(self.g).to(device)

    def forward(self):
        if self.impl == "scratch":
            return self.model(*self.xs)
        out = self.tmodel(*self.txs)
        self.sync()
        return out

    def prepare_backward(self) -> None:
        """The untimed forward pass that `backward` differentiates."""
        if self.impl == "scratch":
            self.model(*self.xs)
        else:
            for t in self.grad_inputs:
                t.grad = None
            self._ty = self.tmodel(*self.txs)
            self.sync()

    def backward(self):
        if self.impl == "scratch":
            return self.model.backward(self.g if self.g.ndim else float(self.g))
        self._ty.backward(self.tg)
        self.sync()


@dataclass
class GenerativeWorkload(_Timed):
    """A generative training step through the experiment's own runners (the GAN's
    alternating step with its two Adams), both twins from the same weights and noise;
    `forward` draws samples in eval mode. Only these two phases: a GAN step has no one
    backward to time apart."""

    def __post_init__(self):
        from bench.experiments import build_model, get_experiment
        from bench.training import make_runner

        name, width = GENERATIVE[self.arch]
        exp = get_experiment(name).with_overrides(dtype=self.dtype, seed=self.seed,
                                                  layers=(f"dcgan width={width}",))
        model = build_model(exp, np.random.default_rng(self.seed))
        self.runner = make_runner(self.impl, exp, model=model)
        self.runner.begin_epoch(0)
        rng = np.random.default_rng(self.seed)
        self.x = rng.random((self.batch, 1, 28, 28)).astype(self.dtype)  # grey levels
        self.z = self.runner.draw(self.batch, rng)
        self.sync = lambda: None
        if self.impl == "torch-cuda":
            import torch

            self.sync = torch.cuda.synchronize

    def forward(self):
        out = self.runner.sample(self.z)
        self.sync()
        return out

    def step(self):
        out = self.runner.train_step(self.x)
        self.sync()
        return out


def make_workload(arch: str, impl: str, batch: int, dtype: str):
    """The workload a speed case times: a whole network, one operation, or a generative
    training step."""
    cls = (GenerativeWorkload if arch in GENERATIVE else OpWorkload if arch in OPS
           else Workload)
    return cls(arch, impl, batch, dtype)
