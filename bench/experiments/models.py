"""Models of one's own: scratch modules composed by hand, not as a Sequential.

Each subclasses `scratch.Module` with a `forward` and a `backward` written out
(residuals, a class token, a positional embedding, a head on one token), and
names its torch twin in the class attribute `torch_twin = "package.module:Class"`;
`reference.twin` builds that class with the same constructor arguments and
copies the weights by state_dict key, so the twin must register the same names.
The twins are in `bench.experiments.torch_models`.
"""

from __future__ import annotations

import numpy as np

import scratch


class ImageRows(scratch.Module):
    """A recurrent layer reading each image row by row: (N, 784) -> the last step's h (N, H).

    The image is `rows` steps of 784 / rows pixels (28 of 28), read by a stack of
    `num_layers` layers. backward puts the upstream gradient on the last step only and
    runs backward through time.
    """

    torch_twin = "bench.experiments.torch_models:ImageRows"

    def __init__(self, mode: str, hidden_size: int, rows: int = 28, num_layers: int = 1, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        classes = {"rnn": scratch.RNN, "lstm": scratch.LSTM, "gru": scratch.GRU}
        if mode not in classes:
            raise ValueError(f"ImageRows mode must be one of {sorted(classes)}, got {mode!r}")
        self.rows = rows
        self.rnn = classes[mode](784 // rows, hidden_size, num_layers, batch_first=True,
                                 rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.rnn(x.reshape(len(x), self.rows, -1))[0]  # (N, rows, H)
        self._steps = out.shape
        return out[:, -1]  # (N, H)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        g = np.zeros(self._steps, grad_out.dtype)  # (N, rows, H)
        g[:, -1] = grad_out
        dx = self.rnn.backward(g, input_grad=input_grad)[0]
        return None if dx is None else dx.reshape(len(dx), -1)  # (N, 784)


class VisionTransformer(scratch.Module):
    """A small ViT body: (N, 1, 28, 28) -> the class token's final features (N, d_model).

    patches (N, P, p*p) -> patch_embed -> [class_token; patches] + pos_embedding
    -> TransformerEncoder (pre-norm, GELU, final LayerNorm) -> token 0.
    The class token and positional embedding start N(0, 0.02^2).
    """

    torch_twin = "bench.experiments.torch_models:VisionTransformer"

    def __init__(self, patch_size: int = 7, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 128, image_size: int = 28, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide image_size {image_size}")
        self.patch_size, self.grid = patch_size, image_size // patch_size
        n = self.grid * self.grid
        self.class_token = scratch.Parameter(
            (0.02 * rng.standard_normal((1, 1, d_model))).astype(dtype))
        self.pos_embedding = scratch.Parameter(
            (0.02 * rng.standard_normal((1, n + 1, d_model))).astype(dtype))
        self.patch_embed = scratch.Linear(patch_size * patch_size, d_model, rng=rng, dtype=dtype)
        layer = scratch.TransformerEncoderLayer(d_model, nhead, dim_feedforward, 0.0, "gelu",
                                                batch_first=True, norm_first=True, rng=rng,
                                                dtype=dtype)
        self.encoder = scratch.TransformerEncoder(layer, num_layers,
                                                  scratch.LayerNorm(d_model, dtype=dtype),
                                                  enable_nested_tensor=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, g, p = len(x), self.grid, self.patch_size
        patches = x.reshape(n, g, p, g, p).transpose(0, 1, 3, 2, 4).reshape(n, g * g, p * p)
        tokens = self.patch_embed(patches)  # (N, P, d)
        cls = np.broadcast_to(self.class_token.data, (n, 1, tokens.shape[-1]))
        tokens = np.concatenate([cls, tokens], axis=1) + self.pos_embedding.data  # (N, P+1, d)
        out = self.encoder(tokens)  # (N, P+1, d)
        self._shape = (out.shape, x.shape)
        return out[:, 0]  # (N, d)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        (shape, x_shape), n, g, p = self._shape, len(grad_out), self.grid, self.patch_size
        dout = np.zeros(shape, grad_out.dtype)  # (N, P+1, d)
        dout[:, 0] = grad_out
        dtokens = self.encoder.backward(dout)  # (N, P+1, d)
        self.pos_embedding.accumulate_grad(dtokens.sum(axis=0, keepdims=True))
        self.class_token.accumulate_grad(dtokens[:, :1].sum(axis=0, keepdims=True))
        dpatches = self.patch_embed.backward(np.ascontiguousarray(dtokens[:, 1:]),
                                             input_grad=input_grad)
        if not input_grad:
            return None
        return dpatches.reshape(n, g, g, p, p).transpose(0, 1, 3, 2, 4).reshape(x_shape)


class BasicBlock(scratch.Module):
    """ResNet's basic block (He et al. 2016): two 3x3 convolutions and a residual add.

        main     = bn2(conv2(relu(bn1(conv1(x)))))      conv1 carries the stride
        shortcut = x, or bn(conv1x1(x)) (`downsample`) when the stride or the channels change
        y        = relu(main + shortcut)

    Backward: g = dL/dy masked by the last ReLU goes down both branches unchanged (the add's
    adjoint copies it), and dL/dx is the sum of the two branches' input gradients.
    The convolutions carry no bias: the batch norm after each would cancel it. The names
    (conv1, bn1, conv2, bn2, downsample.0, downsample.1) are torchvision's.

    Shape: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    torch_twin = "bench.experiments.torch_models:BasicBlock"

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *,
                 rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        self.conv1 = scratch.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False,
                                    rng=rng, dtype=dtype)
        self.bn1 = scratch.BatchNorm2d(out_channels, dtype=dtype)
        self.relu1 = scratch.ReLU()
        self.conv2 = scratch.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, rng=rng,
                                    dtype=dtype)
        self.bn2 = scratch.BatchNorm2d(out_channels, dtype=dtype)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = scratch.Sequential(
                scratch.Conv2d(in_channels, out_channels, 1, stride, bias=False, rng=rng,
                               dtype=dtype),
                scratch.BatchNorm2d(out_channels, dtype=dtype))
        self.relu2 = scratch.ReLU()

    def forward(self, x: np.ndarray) -> np.ndarray:
        main = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))  # (N, C', H', W')
        shortcut = x if self.downsample is None else self.downsample(x)  # (N, C', H', W')
        return self.relu2(main + shortcut)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True):
        g = self.relu2.backward(grad_out)  # (N, C', H', W'): both branches get it
        main = self.bn1.backward(self.relu1.backward(self.conv2.backward(self.bn2.backward(g))))
        dx = self.conv1.backward(main, input_grad=input_grad)  # (N, C, H, W) or None
        if self.downsample is not None:
            shortcut = self.downsample.backward(g, input_grad=input_grad)
        else:
            shortcut = g if input_grad else None
        return None if dx is None else dx + shortcut


def resnet(widths: tuple[int, ...] = (16, 32, 64), blocks: int = 2, in_channels: int = 1, *,
           rng: np.random.Generator, dtype=np.float32) -> scratch.Sequential:
    """A small ResNet body for 28x28 images: (N, in_channels, 28, 28) -> (N, widths[-1]).

    A stem (3x3 conv, batch norm, ReLU) to widths[0], then one stage of `blocks`
    BasicBlocks per width, each stage after the first halving the map in its first block
    (28 -> 14 -> 7 for three widths), then global average pooling. A Sequential of
    BasicBlocks: the residual add lives in the block, so the body needs no code of its own
    and its twin is torch's Sequential of the blocks' twins.
    """
    if not widths or blocks < 1:
        raise ValueError(f"resnet needs at least one width and one block per stage, got "
                         f"widths {widths} and blocks {blocks}")
    layers: list[scratch.Module] = [
        scratch.Conv2d(in_channels, widths[0], 3, padding=1, bias=False, rng=rng, dtype=dtype),
        scratch.BatchNorm2d(widths[0], dtype=dtype), scratch.ReLU()]
    channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(channels, width, stride, rng=rng, dtype=dtype))
            channels = width
    return scratch.Sequential(*layers, scratch.AdaptiveAvgPool2d(1), scratch.Flatten())
