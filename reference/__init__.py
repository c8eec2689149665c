"""reference: the PyTorch twin of a scratch model.

`twin(model)` builds a `torch.nn.Module` with the same layers, weights and
dtype; `copy_weights(src, dst)` copies a state dict between the twins in
either direction.
"""

from reference.build import copy_weights, register, to_numpy, to_torch, torch_dtype, twin

__all__ = ["copy_weights", "register", "to_numpy", "to_torch", "torch_dtype", "twin"]
