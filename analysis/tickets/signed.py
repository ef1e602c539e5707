"""Signed tickets: per layer S = sign(θ_k) ⊙ mask, values −1, 0, +1 (int8), PyTorch layout, forward order.

θ_k is the weights every pruning round reset to: θ0 itself, or with late rewinding the weights after k
training steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

WINNING_KIND = "winning"
RANDOM_KIND = "random"


def signed_layers(
    weights: Mapping[str, np.ndarray], mask: Mapping[str, np.ndarray], names: Sequence[str]
) -> tuple[np.ndarray, ...]:
    """S = sign(θ_k) ⊙ mask for each layer in `names`, θ_k = `weights` (a kept weight exactly 0 in θ_k counts
    as removed)."""
    return tuple(np.sign(weights[name]).astype(np.int8) * mask[name].astype(np.int8) for name in names)


@dataclass(frozen=True, eq=False)
class Ticket:
    """One signed ticket and where it came from.

    `init` is the trial's `lottery.init` tag: two tickets with equal `init` grew from the same θ0
    (a trial's winning and random tickets always do) and are never compared with each other; it identifies
    θ0 even where the signs come from rewound weights θ_k.
    """

    dataset: str
    trial: int
    kind: str  # WINNING_KIND or RANDOM_KIND
    init: str
    run_id: str
    layers: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        return f"{self.dataset}/trial-{self.trial:02d}/{self.kind}"

    @property
    def winning(self) -> bool:
        return self.kind == WINNING_KIND
