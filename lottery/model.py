"""Conv-2 of Frankle & Carbin (2019), with its five prunable weight layers named in forward order.

conv 3×3, 64, same → ReLU → conv 3×3, 64, same → ReLU → max-pool 2×2 → flatten (64·16·16 = 16384)
→ dense 256 → ReLU → dense 256 → ReLU → dense 10. Glorot-normal weights, zero biases, no batch-norm.
"""

from __future__ import annotations

import torch
from torch import nn

from lottery.layers import LAYER_NAMES

NUM_CLASSES = 10


class Conv2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, padding=1)
        self.dense1 = nn.Linear(64 * 16 * 16, 256)
        self.dense2 = nn.Linear(256, 256)
        self.output = nn.Linear(256, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.flatten(nn.functional.max_pool2d(x, 2), 1)
        x = torch.relu(self.dense1(x))
        x = torch.relu(self.dense2(x))
        return self.output(x)

    def layer(self, name: str) -> nn.Conv2d | nn.Linear:
        return getattr(self, name)

    def prunable_weights(self) -> dict[str, torch.Tensor]:
        """The five weight tensors (PyTorch layout), keyed by layer name in forward order."""
        return {name: self.layer(name).weight for name in LAYER_NAMES}


def initial_weights(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """θ0: Glorot-normal weights for each layer, drawn on the CPU from `generator` (float32)."""
    model = Conv2()
    with torch.no_grad():
        for name in LAYER_NAMES:
            nn.init.xavier_normal_(model.layer(name).weight, generator=generator)
    return {name: w.detach().clone() for name, w in model.prunable_weights().items()}


def build(theta0: dict[str, torch.Tensor]) -> Conv2:
    """A Conv-2 whose weights are θ0 and whose biases are zero."""
    model = Conv2()
    with torch.no_grad():
        for name in LAYER_NAMES:
            model.layer(name).weight.copy_(theta0[name])
            model.layer(name).bias.zero_()
    return model
