"""Conv-2 of Frankle & Carbin (2019), with its five prunable weight layers named in forward order.

conv 3×3, 64, same → ReLU → conv 3×3, 64, same → ReLU → max-pool 2×2 → flatten (64·16·16 = 16384)
→ dense 256 → ReLU → dense 256 → ReLU → dense 10. Glorot-normal weights, zero biases, no batch-norm.
Per-round rates: conv 10 %, dense 20 %, output 10 %.
"""

from __future__ import annotations

from lottery.models import ModelSpec, chain_layers
from lottery.models.network import ConvChain


class Network(ConvChain):
    SPEC = ModelSpec(
        name="conv2",
        layers=chain_layers(2, 2),
        input_shape=(3, 32, 32),
    )
    BLOCKS = ((64, 64),)
    DENSE = (256, 256)
