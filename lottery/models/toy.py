"""A toy chain network for tests and quick demos — the same kinds of layers as Conv-2, ~1/500 of its weights.

conv 3×3, 8, same → ReLU → max-pool 4×4 → flatten (8·8·8 = 512) → dense 32 → ReLU → dense 10.
"""

from __future__ import annotations

import torch
from torch import nn

from lottery.models import ModelSpec, chain_layers
from lottery.models.network import PrunableNetwork


class Network(PrunableNetwork):
    SPEC = ModelSpec(
        name="toy",
        layers=chain_layers(1, 1),
        input_shape=(3, 32, 32),
    )

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.dense1 = nn.Linear(8 * 8 * 8, 32)
        self.output = nn.Linear(32, self.SPEC.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.flatten(nn.functional.max_pool2d(x, 4), 1)
        x = torch.relu(self.dense1(x))
        return self.output(x)
