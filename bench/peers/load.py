"""Import a peer as released, with the one shim each old release needs on today's stack.

- numpy-ml 0.1.2: `numpy_ml.utils.data_structures` does `from collections import
  Hashable`, removed in Python 3.10. Shim: `collections.Hashable` is set to
  `collections.abc.Hashable` for the import only, then removed again.
- dezero 0.0.13: `dezero.transforms` evaluates `np.int` (removed in NumPy 1.24) as a
  default argument at import. Shim: `numpy.int = int` for the import only, then removed.
- tinygrad: runs on its CPU device (needs clang on PATH); `DEV=PYTHON` is its slow
  pure-Python fallback.

Nothing else is patched; every shim is listed in `SHIMS` and printed with the audit.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import importlib
import importlib.metadata
import warnings

import numpy as np

# The import name and PyPI distribution of each peer.
PEERS = {"numpy-ml": "numpy_ml", "dezero": "dezero", "mygrad": "mygrad",
         "micrograd": "micrograd", "tinygrad": "tinygrad"}
SHIMS = {
    "numpy-ml": "collections.Hashable = collections.abc.Hashable during import (Python >= 3.10)",
    "dezero": "numpy.int = int during import (NumPy >= 1.24)",
}


@contextlib.contextmanager
def _temporarily(owner, name: str, value):
    had = name in vars(owner)
    old = vars(owner).get(name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if had:
            setattr(owner, name, old)
        else:
            delattr(owner, name)


def version(peer: str) -> str:
    try:
        return importlib.metadata.version(peer)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load(peer: str, submodule: str = ""):
    """The peer's module (or `submodule` of it), imported with its shim; ImportError if absent."""
    name = PEERS[peer] + (f".{submodule}" if submodule else "")
    if peer == "numpy-ml":
        # Its rl_models warn on import that gym is missing: not used here.
        with _temporarily(collections, "Hashable", collections.abc.Hashable), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    if peer == "dezero":
        with _temporarily(np, "int", int):
            return importlib.import_module(name)
    return importlib.import_module(name)


def available(peer: str) -> bool:
    try:
        load(peer)
    except Exception:
        return False
    return True
