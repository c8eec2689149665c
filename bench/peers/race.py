"""The race: one MLP (784-512-256-10, ReLU, cross-entropy, SGD with momentum 0.9, float32)
written through each peer's public API, from the same initial weights.

Each `Trainer` builds the model from the weights (torch's layout, (out, in)) and offers
`step(x, y)` (forward, mean cross-entropy, backward, one SGD-momentum update) and
`predict(x)`; the CNN racers (`CNN_TRAINERS`) do the same for a small CNN where a
peer has convolutions (all but micrograd). The speed suite times their steps
(bench/measure/speed/test_race.py, under pytest-benchmark, BLAS and torch on the same
number of threads); `accuracy` trains on MNIST with one batch order for all and returns
test accuracy.

Per peer, what its public API offers: numpy-ml's FullyConnected layers with their
own SGD optimizer (its CrossEntropy sums over the batch, so the gradient handed to
backward is divided by N); DeZero's Linear and MomentumSGD; MyGrad has no
optimizer, so the momentum update is written on its tensors' arrays; tinygrad's
nn.Linear and nn.optim.SGD, the step compiled by TinyJit as its examples do;
micrograd is scalar (a Value per number) and is timed at batch 1 only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from bench.peers.load import load

SIZES = (784, 512, 256, 10)
LR, MOMENTUM = 0.05, 0.9
# The raced models, and the shape of each weight in torch's layout (a bias each).
MODELS = {
    "mlp": "MLP 784-512-256-10, ReLU",
    "cnn": "CNN conv(1->16, 3, pad 1) ReLU maxpool 2, conv(16->32, 3, pad 1) ReLU maxpool 2, "
           "linear(1568->10)",
}
WEIGHT_SHAPES = {
    "mlp": [(512, 784), (256, 512), (10, 256)],
    "cnn": [(16, 1, 3, 3), (32, 16, 3, 3), (10, 32 * 7 * 7)],
}


def initial_weights(seed: int = 0, model: str = "mlp") -> list[tuple[np.ndarray, np.ndarray]]:
    """torch's default init of Linear and Conv2d, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weight and bias, in torch's layout ((out, in) and (out, in, kH, kW)), float32."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in WEIGHT_SHAPES[model]:
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        out.append((rng.uniform(-bound, bound, shape).astype(np.float32),
                    rng.uniform(-bound, bound, shape[0]).astype(np.float32)))
    return out


def input_shape(model: str, batch: int) -> tuple[int, ...]:
    return (batch, SIZES[0]) if model == "mlp" else (batch, 1, 28, 28)


class Trainer:
    step: Callable[[np.ndarray, np.ndarray], None]
    predict: Callable[[np.ndarray], np.ndarray]


class ScratchTrainer(Trainer):
    def __init__(self, weights):
        import scratch
        self.model = scratch.Sequential(*self._layers(scratch, np.random.default_rng(0)))
        owners = [name for name, m in self.model.named_children()
                  if isinstance(m, (scratch.Linear, scratch.Conv2d))]
        self.model.load_state_dict({f"{name}.{k}": v for name, (w, b) in zip(owners, weights)
                                    for k, v in (("weight", w), ("bias", b))})
        self.loss = scratch.CrossEntropyLoss()
        self.opt = scratch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(self, x, y):
        self.opt.zero_grad()
        self.loss(self.model(x), y)
        self.model.backward(self.loss.backward(), input_grad=False)
        self.opt.step()

    def predict(self, x):
        return self.model(x)

    @staticmethod
    def _layers(scratch, rng):
        f32 = np.float32
        return [scratch.Linear(784, 512, rng=rng, dtype=f32), scratch.ReLU(),
                scratch.Linear(512, 256, rng=rng, dtype=f32), scratch.ReLU(),
                scratch.Linear(256, 10, rng=rng, dtype=f32)]


class TorchTrainer(Trainer):
    def __init__(self, weights):
        import torch
        self.torch = torch
        self.model = torch.nn.Sequential(*self._layers(torch.nn))
        owners = [m for m in self.model if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        with torch.no_grad():
            for m, (w, b) in zip(owners, weights):
                m.weight.copy_(torch.from_numpy(w))
                m.bias.copy_(torch.from_numpy(b))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(self, x, y):
        self.opt.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(self.torch.from_numpy(x)),
                                                      self.torch.from_numpy(y))
        loss.backward()
        self.opt.step()

    def predict(self, x):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x)).numpy()

    @staticmethod
    def _layers(nn):
        return [nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                nn.Linear(256, 10)]


class NumpyMLTrainer(Trainer):
    def __init__(self, weights):
        nn = load("numpy-ml", "neural_nets")
        self.layers = []
        for i, (w, b) in enumerate(weights):
            opt = nn.optimizers.SGD(lr=LR, momentum=MOMENTUM)
            layer = nn.layers.FullyConnected(w.shape[0], act_fn="ReLU" if i < 2 else None,
                                             optimizer=opt)
            layer.forward(np.zeros((1, w.shape[1]), np.float32))  # creates its parameters
            layer.parameters["W"], layer.parameters["b"] = w.T.copy(), b[None].copy()
            layer.flush_gradients()
            self.layers.append(layer)

    def predict(self, x, retain=False):
        for layer in self.layers:
            x = layer.forward(x, retain_derived=retain)
        return x

    def step(self, x, y):
        z = self.predict(x, retain=True)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(len(y)), y] -= 1  # their CrossEntropy.grad(onehot, p): softmax - y
        g /= len(y)  # their loss is a sum; the race's is the mean
        for layer in reversed(self.layers):
            g = layer.backward(g)
        for layer in self.layers:
            layer.update()  # steps its optimizer and flushes the gradients


class DezeroTrainer(Trainer):
    def __init__(self, weights):
        dz = load("dezero")
        self.dz, self.F = dz, dz.functions
        self.model = dz.models.MLP((512, 256, 10), activation=self.F.relu)  # default: sigmoid
        for layer, (w, b) in zip(self.model.layers, weights):
            layer.W.data, layer.b.data = w.T.copy(), b.copy()
        self.opt = dz.optimizers.MomentumSGD(lr=LR, momentum=MOMENTUM).setup(self.model)

    def step(self, x, y):
        loss = self.F.softmax_cross_entropy(self.model(x), y)
        self.model.cleargrads()
        loss.backward()
        self.opt.update()

    def predict(self, x):
        with self.dz.no_grad():
            return self.model(x).data


class MygradTrainer(Trainer):
    def __init__(self, weights):
        self.mg = load("mygrad")
        self.params = [self.mg.tensor(a.T.copy() if a.ndim == 2 else a.copy())
                       for w, b in weights for a in (w, b)]
        self.bufs = [np.zeros_like(p.data) for p in self.params]

    def _forward(self, x):
        mg, nnet = self.mg, self.mg.nnet
        W1, b1, W2, b2, W3, b3 = self.params
        h = nnet.relu(mg.matmul(x, W1) + b1)
        h = nnet.relu(mg.matmul(h, W2) + b2)
        return mg.matmul(h, W3) + b3

    def step(self, x, y):
        loss = self.mg.nnet.softmax_crossentropy(self._forward(x), y)
        loss.backward()
        for p, buf in zip(self.params, self.bufs):  # MyGrad has no optimizer: torch's rule
            buf *= MOMENTUM
            buf += p.grad
            p.data -= LR * buf
            p.null_grad()

    def predict(self, x):
        with self.mg.no_autodiff:
            return np.asarray(self._forward(x))


class TinygradTrainer(Trainer):
    def __init__(self, weights):
        tg = load("tinygrad")
        self.tg = tg
        self.layers = self._layers(tg.nn)
        for layer, (w, b) in zip(self.layers, weights):
            layer.weight, layer.bias = tg.Tensor(w.copy()), tg.Tensor(b.copy())
        params = [p for layer in self.layers for p in (layer.weight, layer.bias)]
        self.opt = tg.nn.optim.SGD(params, lr=LR, momentum=MOMENTUM)
        self._steps: dict[int, Callable] = {}

    @staticmethod
    def _layers(nn):
        return [nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)]

    def _forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            x = x.relu() if i < 2 else x
        return x

    def step(self, x, y):
        tg = self.tg
        if len(x) not in self._steps:
            @tg.TinyJit
            def jitted(xt, yt):
                self.opt.zero_grad()
                loss = self._forward(xt).sparse_categorical_crossentropy(yt)
                loss.backward()
                self.opt.step()
                return loss
            self._steps[len(x)] = jitted
        with tg.Context(TRAINING=1):
            self._steps[len(x)](tg.Tensor(x), tg.Tensor(y.astype(np.int32))).realize()

    def predict(self, x):
        return self._forward(self.tg.Tensor(x)).numpy()


class MicrogradTrainer(Trainer):
    def __init__(self, weights):
        nn = load("micrograd", "nn")
        self.model = nn.MLP(SIZES[0], list(SIZES[1:]))
        for layer, (w, b) in zip(self.model.layers, weights):
            for neuron, row, bias in zip(layer.neurons, w, b):
                for v, value in zip(neuron.w, row):
                    v.data = float(value)
                neuron.b.data = float(bias)
        self.params = self.model.parameters()
        self.bufs = [0.0] * len(self.params)

    def step(self, x, y):
        # micrograd 0.1.0's Value has no exp or log, so no cross-entropy: the loss is a
        # squared error on one-hot targets, the nearest it offers (same graph sizes).
        loss = 0
        for row, label in zip(x, y):
            z = self.model([float(v) for v in row])
            loss = loss + sum((v - (1.0 if k == label else 0.0)) ** 2 for k, v in enumerate(z))
        self.model.zero_grad()
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20_000))  # its backward sorts the graph recursively
        try:
            (loss * (1.0 / len(x))).backward()
        finally:
            sys.setrecursionlimit(limit)
        for i, p in enumerate(self.params):
            self.bufs[i] = MOMENTUM * self.bufs[i] + p.grad
            p.data -= LR * self.bufs[i]

    def predict(self, x):
        return np.array([[v.data for v in self.model([float(a) for a in row])] for row in x])


# --- the CNN: the same model through each peer that has convolutions ------------------

class ScratchCNNTrainer(ScratchTrainer):
    @staticmethod
    def _layers(scratch, rng):
        f32 = np.float32
        return [scratch.Conv2d(1, 16, 3, padding=1, rng=rng, dtype=f32), scratch.ReLU(),
                scratch.MaxPool2d(2),
                scratch.Conv2d(16, 32, 3, padding=1, rng=rng, dtype=f32), scratch.ReLU(),
                scratch.MaxPool2d(2), scratch.Flatten(),
                scratch.Linear(32 * 7 * 7, 10, rng=rng, dtype=f32)]


class TorchCNNTrainer(TorchTrainer):
    @staticmethod
    def _layers(nn):
        return [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(32 * 7 * 7, 10)]


class NumpyMLCNNTrainer(NumpyMLTrainer):
    """numpy-ml's Conv2D (ReLU inside, as its act_fn), Pool2D, Flatten, FullyConnected.
    Images are channels-last there: kernels (kH, kW, in, out), and Flatten orders
    features (h, w, c) where torch orders them (c, h, w), so the linear layer's columns
    are permuted to match."""

    def __init__(self, weights):
        nn = load("numpy-ml", "neural_nets")
        layers = nn.layers

        def sgd():
            return nn.optimizers.SGD(lr=LR, momentum=MOMENTUM)

        self.layers = [
            layers.Conv2D(16, (3, 3), pad=1, act_fn="ReLU", optimizer=sgd()),
            layers.Pool2D((2, 2), stride=2, mode="max"),
            layers.Conv2D(32, (3, 3), pad=1, act_fn="ReLU", optimizer=sgd()),
            layers.Pool2D((2, 2), stride=2, mode="max"),
            layers.Flatten(),
            layers.FullyConnected(10, optimizer=sgd()),
        ]
        self.predict(np.zeros((1, 1, 28, 28), np.float32))  # creates the parameters
        (w1, b1), (w2, b2), (w3, b3) = weights
        for layer, w, b in ((self.layers[0], w1, b1), (self.layers[2], w2, b2)):
            layer.parameters["W"] = w.transpose(2, 3, 1, 0).copy()  # (kH, kW, in, out)
            layer.parameters["b"] = b.reshape(1, 1, 1, -1).copy()
        fc = w3.reshape(10, 32, 7, 7).transpose(0, 2, 3, 1).reshape(10, -1)  # (h, w, c) order
        head = self.layers[5].parameters
        head["W"], head["b"] = fc.T.copy(), b3[None].copy()  # (in, out), (1, out)
        for layer in self.layers:
            layer.flush_gradients()

    def predict(self, x, retain=False):
        return super().predict(x.transpose(0, 2, 3, 1), retain)  # NCHW -> NHWC


class DezeroCNNTrainer(DezeroTrainer):
    """DeZero's Conv2d and Linear in a Model, with F.pooling and F.reshape between."""

    def __init__(self, weights):
        dz = load("dezero")
        self.dz, self.F = dz, dz.functions
        F, L = dz.functions, dz.layers

        class Net(dz.Model):
            def __init__(self):
                super().__init__()
                self.c1 = L.Conv2d(16, 3, stride=1, pad=1, in_channels=1)
                self.c2 = L.Conv2d(32, 3, stride=1, pad=1, in_channels=16)
                self.fc = L.Linear(10, in_size=32 * 7 * 7)

            def forward(self, x):
                x = F.pooling(F.relu(self.c1(x)), 2, 2)
                x = F.pooling(F.relu(self.c2(x)), 2, 2)
                return self.fc(F.reshape(x, (x.shape[0], -1)))

        self.model = Net()
        (w1, b1), (w2, b2), (w3, b3) = weights
        for layer, w, b in ((self.model.c1, w1, b1), (self.model.c2, w2, b2)):
            layer.W.data, layer.b.data = w.copy(), b.copy()  # torch's layout
        self.model.fc.W.data, self.model.fc.b.data = w3.T.copy(), b3.copy()  # (in, out)
        self.opt = dz.optimizers.MomentumSGD(lr=LR, momentum=MOMENTUM).setup(self.model)


class MygradCNNTrainer(MygradTrainer):
    """MyGrad's conv_nd and max_pool on tensors; the momentum update as for its MLP."""

    def _forward(self, x):
        mg, nnet = self.mg, self.mg.nnet
        w1, b1, w2, b2, w3, b3 = self.params
        h = nnet.relu(nnet.conv_nd(x, w1, stride=1, padding=1) + b1[:, None, None])
        h = nnet.max_pool(h, (2, 2), 2)  # (N, 16, 14, 14)
        h = nnet.relu(nnet.conv_nd(h, w2, stride=1, padding=1) + b2[:, None, None])
        h = nnet.max_pool(h, (2, 2), 2)  # (N, 32, 7, 7)
        return mg.matmul(h.reshape(h.shape[0], -1), w3) + b3


class TinygradCNNTrainer(TinygradTrainer):
    @staticmethod
    def _layers(nn):
        return [nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1),
                nn.Linear(32 * 7 * 7, 10)]

    def _forward(self, x):
        c1, c2, fc = self.layers
        x = c1(x).relu().max_pool2d(2)
        x = c2(x).relu().max_pool2d(2)
        return fc(x.flatten(1))


TRAINERS = {"scratch": ScratchTrainer, "torch": TorchTrainer, "numpy-ml": NumpyMLTrainer,
            "dezero": DezeroTrainer, "mygrad": MygradTrainer, "tinygrad": TinygradTrainer,
            "micrograd": MicrogradTrainer}
CNN_TRAINERS = {"scratch": ScratchCNNTrainer, "torch": TorchCNNTrainer,
                "numpy-ml": NumpyMLCNNTrainer, "dezero": DezeroCNNTrainer,
                "mygrad": MygradCNNTrainer, "tinygrad": TinygradCNNTrainer}
RACES = {"mlp": TRAINERS, "cnn": CNN_TRAINERS}  # micrograd has no convolution
# Racers too slow to train for the accuracy column or to time for many rounds: micrograd
# (a Python object per number) and numpy-ml's Conv2D (seconds per step at batch 32).
SLOW = {("mlp", "micrograd"): "scalar: a Value per number; timed at batch 1 only",
        ("cnn", "numpy-ml"): "its Conv2D loops in Python: timed only, not trained"}


def accuracy(name: str, data, epochs: int = 5, batch: int = 128, seed: int = 0,
             model: str = "mlp") -> dict:
    """Test accuracy (%) after `epochs` epochs, one batch order for every peer; `data`
    holds flat (N, 784) images, reshaped to (N, 1, 28, 28) for the CNN."""
    from bench.training.loop import batches
    x_tr, y_tr, x_te, y_te = data
    if model == "cnn":
        x_tr, x_te = x_tr.reshape(-1, 1, 28, 28), x_te.reshape(-1, 1, 28, 28)
    trainer = RACES[model][name](initial_weights(seed, model))
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for idx in batches(len(x_tr), batch, seed, epoch):
            if len(idx) == batch:  # a fixed shape (tinygrad's jit); the last partial batch drops
                trainer.step(x_tr[idx], y_tr[idx])
    seconds = time.perf_counter() - t0
    logits = np.concatenate([trainer.predict(x_te[i:i + 1000])
                             for i in range(0, len(x_te), 1000)])
    return {"accuracy": 100.0 * float(np.mean(logits.argmax(axis=1) == y_te)),
            "train_seconds": seconds, "epochs": epochs, "batch": batch}
