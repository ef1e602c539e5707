"""Conv-4 of Frankle & Carbin (2019): Conv-2 with a second block of two 128-filter convolutions.

conv 3×3, 64 → conv 3×3, 64 → max-pool 2×2 → conv 3×3, 128 → conv 3×3, 128 → max-pool 2×2
→ flatten (128·8·8 = 8192) → dense 256 → dense 256 → dense 10; ReLU after each hidden layer, convolutions
`same`. Per-round rates: conv 10 %, dense 20 %, output 10 %.
"""

from __future__ import annotations

from lottery.models import ModelSpec, chain_layers
from lottery.models.network import ConvChain


class Network(ConvChain):
    SPEC = ModelSpec(
        name="conv4",
        layers=chain_layers(4, 2),
        input_shape=(3, 32, 32),
    )
    BLOCKS = ((64, 64), (128, 128))
    DENSE = (256, 256)
