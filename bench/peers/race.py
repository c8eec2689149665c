"""The race: one MLP (784-512-256-10, ReLU, cross-entropy, SGD with momentum 0.9, float32)
written through each peer's public API, from the same initial weights.

Each `Trainer` builds the model from the weights (torch's layout, (out, in)) and offers
`step(x, y)` (forward, mean cross-entropy, backward, one SGD-momentum update) and
`predict(x)`. The speed suite times their steps (bench/measure/speed/test_race.py,
under pytest-benchmark, BLAS and torch on the same number of threads); `accuracy`
trains 5 epochs on MNIST with one batch order for all and returns test accuracy.

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


def initial_weights(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """torch.nn.Linear's default init, (out, in) weights, float32."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(n_in)
        out.append((rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                    rng.uniform(-bound, bound, n_out).astype(np.float32)))
    return out


class Trainer:
    step: Callable[[np.ndarray, np.ndarray], None]
    predict: Callable[[np.ndarray], np.ndarray]


class ScratchTrainer(Trainer):
    def __init__(self, weights):
        import scratch
        layers = []
        for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(scratch.Linear(n_in, n_out, rng=np.random.default_rng(0),
                                         dtype=np.float32))
            if i < 2:
                layers.append(scratch.ReLU())
        self.model = scratch.Sequential(*layers)
        self.model.load_state_dict({f"{2 * i}.{k}": v for i, (w, b) in enumerate(weights)
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


class TorchTrainer(Trainer):
    def __init__(self, weights):
        import torch
        self.torch = torch
        mods = []
        for i, (w, b) in enumerate(weights):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            mods += [lin] + ([torch.nn.ReLU()] if i < 2 else [])
        self.model = torch.nn.Sequential(*mods)
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
        self.layers = [tg.nn.Linear(w.shape[1], w.shape[0]) for w, _ in weights]
        for layer, (w, b) in zip(self.layers, weights):
            layer.weight, layer.bias = tg.Tensor(w.copy()), tg.Tensor(b.copy())
        params = [p for layer in self.layers for p in (layer.weight, layer.bias)]
        self.opt = tg.nn.optim.SGD(params, lr=LR, momentum=MOMENTUM)
        self._steps: dict[int, Callable] = {}

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


TRAINERS = {"scratch": ScratchTrainer, "torch": TorchTrainer, "numpy-ml": NumpyMLTrainer,
            "dezero": DezeroTrainer, "mygrad": MygradTrainer, "tinygrad": TinygradTrainer,
            "micrograd": MicrogradTrainer}


def accuracy(name: str, data, epochs: int = 5, batch: int = 128, seed: int = 0) -> dict:
    """Test accuracy (%) after `epochs` epochs, one batch order for every peer."""
    from bench.training.loop import batches
    x_tr, y_tr, x_te, y_te = data
    trainer = TRAINERS[name](initial_weights(seed))
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
