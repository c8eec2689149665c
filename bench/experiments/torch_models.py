"""The torch twins of `bench.experiments.models`, named there by `torch_twin`.

Same constructor arguments (less rng and dtype) and the same state_dict keys,
so `reference.twin` builds them and copies the scratch weights in.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageRows(nn.Module):
    def __init__(self, mode: str, hidden_size: int, rows: int = 28, num_layers: int = 1):
        super().__init__()
        self.rows = rows
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[mode]
        self.rnn = cls(784 // rows, hidden_size, num_layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x.shape[0], not len(x): traced for ONNX, it stays the dynamic batch dimension
        return self.rnn(x.reshape(x.shape[0], self.rows, -1))[0][:, -1]


class VisionTransformer(nn.Module):
    def __init__(self, patch_size: int = 7, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 128, image_size: int = 28):
        super().__init__()
        self.patch_size, self.grid = patch_size, image_size // patch_size
        n = self.grid * self.grid
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n + 1, d_model))
        self.patch_embed = nn.Linear(patch_size * patch_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, 0.0, "gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, g, p = x.shape[0], self.grid, self.patch_size  # shape[0]: dynamic in ONNX
        patches = x.reshape(n, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(n, g * g, p * p)
        tokens = self.patch_embed(patches)
        tokens = torch.cat([self.class_token.expand(n, -1, -1), tokens], dim=1)
        return self.encoder(tokens + self.pos_embedding)[:, 0]


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))
