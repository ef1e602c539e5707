"""Conv-2 of Frankle & Carbin (2019), with its five prunable weight layers named in forward order.

conv 3×3, 64, same → ReLU → conv 3×3, 64, same → ReLU → max-pool 2×2 → flatten (64·16·16 = 16384)
→ dense 256 → ReLU → dense 256 → ReLU → dense 10. Glorot-normal weights, zero biases, no batch-norm.
"""

from __future__ import annotations

import torch
from torch import nn

from lottery.models import ModelSpec
from lottery.models.network import PrunableNetwork


class Network(PrunableNetwork):
    SPEC = ModelSpec(
        name="conv2",
        layers=(
            ("conv1", "conv"),
            ("conv2", "conv"),
            ("dense1", "dense"),
            ("dense2", "dense"),
            ("output", "output"),
        ),
        input_shape=(3, 32, 32),
    )

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, padding=1)
        self.dense1 = nn.Linear(64 * 16 * 16, 256)
        self.dense2 = nn.Linear(256, 256)
        self.output = nn.Linear(256, self.SPEC.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.flatten(nn.functional.max_pool2d(x, 2), 1)
        x = torch.relu(self.dense1(x))
        x = torch.relu(self.dense2(x))
        return self.output(x)
