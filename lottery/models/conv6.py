"""Conv-6 of Frankle & Carbin (2019): Conv-4 with a third block of two 256-filter convolutions.

conv 3×3, 64 → conv 3×3, 64 → max-pool 2×2 → conv 3×3, 128 → conv 3×3, 128 → max-pool 2×2
→ conv 3×3, 256 → conv 3×3, 256 → max-pool 2×2 → flatten (256·4·4 = 4096) → dense 256 → dense 256
→ dense 10; ReLU after each hidden layer, convolutions `same`. Per-round rates: conv 15 % (the paper's
rate for Conv-6), dense 20 %, output 10 %.
"""

from __future__ import annotations

from lottery.models import ModelSpec, chain_layers
from lottery.models.network import ConvChain


class Network(ConvChain):
    SPEC = ModelSpec(
        name="conv6",
        layers=chain_layers(6, 2),
        input_shape=(3, 32, 32),
    )
    BLOCKS = ((64, 64), (128, 128), (256, 256))
    DENSE = (256, 256)
