"""LeNet-300-100 of Frankle & Carbin (2019), on the flattened 3×32×32 image (3072 inputs).

flatten → dense 300 → ReLU → dense 100 → ReLU → dense 10. Per-round rates: dense 20 %, output 10 %.
"""

from __future__ import annotations

import torch
from torch import nn

from lottery.models import ModelSpec, chain_layers
from lottery.models.network import PrunableNetwork


class Network(PrunableNetwork):
    SPEC = ModelSpec(
        name="lenet300",
        layers=chain_layers(0, 2),
        input_shape=(3, 32, 32),
    )

    def __init__(self) -> None:
        super().__init__()
        channels, height, width = self.SPEC.input_shape
        self.dense1 = nn.Linear(channels * height * width, 300)
        self.dense2 = nn.Linear(300, 100)
        self.output = nn.Linear(100, self.SPEC.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.dense1(torch.flatten(x, 1)))
        x = torch.relu(self.dense2(x))
        return self.output(x)
