"""reference: the PyTorch twin of a scratch model.

`twin(model)` builds a `torch.nn.Module` with the same layers, weights and
dtype; `copy_weights(src, dst)` copies a state dict between the twins in
either direction.
"""

from reference.build import copy_weights, to_numpy, to_torch, torch_dtype, twin
from reference.layers import SharedMaskDropout

__all__ = ["SharedMaskDropout", "copy_weights", "to_numpy", "to_torch", "torch_dtype", "twin"]
