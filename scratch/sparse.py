"""Embedding: a lookup table of vectors indexed by integers, as `torch.nn.Embedding`.

The math (lookup, gradient, max-norm renormalisation) is in
scratch.functional.sparse.
"""

from __future__ import annotations

import numpy as np

from scratch import functional as F
from scratch import init
from scratch._checks import check_grad, require_forward
from scratch.module import Module, Parameter, check_float_dtype


class Embedding(Module):
    """y = weight[input], weight (num_embeddings, embedding_dim) drawn N(0, 1) as torch.

    Args (torch's, in its order):
        num_embeddings, embedding_dim: table size.
        padding_idx: this row starts at zero and never gets a gradient (negative
            values count from the end).
        max_norm: before each lookup, rows looked up whose norm_type-norm exceeds it
            are rescaled in place to max_norm (torch's embedding_renorm_, not
            differentiated).
        norm_type: the p of that norm (default 2).
        scale_grad_by_freq: divide each position's gradient by its index's count in
            the batch.
        sparse: refused (NotImplementedError): NumPy has no sparse gradient arrays.
        _weight: an initial (num_embeddings, embedding_dim) table instead of N(0, 1).
        _freeze: refused if True (NotImplementedError): scratch has no requires_grad.
        rng, dtype: keyword only.

    Shape: input (*) of integer indices -> output (*, embedding_dim).
    backward(grad_out) adds into weight.grad and returns None: indices have no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, *, rng: np.random.Generator, dtype=np.float32):
        super().__init__()
        dt = check_float_dtype(dtype)
        if sparse:
            raise NotImplementedError("Embedding(sparse=True): NumPy has no sparse gradient "
                                      "arrays; use sparse=False (dense gradients)")
        if _freeze:
            raise NotImplementedError("Embedding(_freeze=True): scratch parameters have no "
                                      "requires_grad; leave the weight out of the optimizer")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(f"Padding_idx must be within num_embeddings, got "
                                     f"{padding_idx} for {num_embeddings} embeddings")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, float(norm_type)
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), False
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.empty(shape, dt))
            self.reset_parameters(rng=rng)
        else:
            w = np.asarray(_weight)
            if w.shape != shape:
                raise ValueError(f"Embedding _weight must have shape {shape}, got {w.shape}")
            self.weight = Parameter(w.astype(dt, copy=True))
        self._idx = None

    def reset_parameters(self, *, rng: np.random.Generator) -> None:
        init.normal_(self.weight, rng=rng)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _name(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def forward(self, input: np.ndarray) -> np.ndarray:
        if not isinstance(input, np.ndarray) or not np.issubdtype(input.dtype, np.integer):
            got = input.dtype if isinstance(input, np.ndarray) else type(input).__name__
            raise TypeError(f"{self._name()} expects an integer numpy.ndarray of indices, "
                            f"got {got}")
        if input.size and (input.min() < 0 or input.max() >= self.num_embeddings):
            raise IndexError(f"{self._name()}: indices must be in [0, {self.num_embeddings}), "
                             f"got values from {input.min()} to {input.max()}")
        if self.max_norm is not None:
            F.embedding_renorm_(self.weight.data, input, self.max_norm, self.norm_type)
        self._idx = input
        return F.embedding_forward(self.weight.data, input)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> None:
        idx = require_forward(self._idx, self._name())
        check_grad(grad_out, idx.shape + (self.embedding_dim,), self._name())
        self.weight.accumulate_grad(F.embedding_backward(
            grad_out, idx, self.num_embeddings, self.padding_idx, self.scale_grad_by_freq))
        return None

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
