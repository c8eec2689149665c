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
