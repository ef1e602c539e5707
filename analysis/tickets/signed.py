"""Signed tickets: per layer S = sign(θ0) ⊙ mask, values −1, 0, +1 (int8), PyTorch layout, forward order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

WINNING = "winning"
RANDOM = "random"


def signed_layers(
    theta0: Mapping[str, np.ndarray], mask: Mapping[str, np.ndarray], names: Sequence[str]
) -> tuple[np.ndarray, ...]:
    """S = sign(θ0) ⊙ mask for each layer in `names` (a kept weight with θ0 exactly 0 counts as removed)."""
    return tuple(np.sign(theta0[name]).astype(np.int8) * mask[name].astype(np.int8) for name in names)


@dataclass(frozen=True, eq=False)
class Ticket:
    """One signed ticket and where it came from.

    `init` is the trial's `lottery.init` tag: two tickets with equal `init` grew from the same θ0
    (a trial's winning and random tickets always do) and are never compared with each other.
    """

    dataset: str
    trial: int
    kind: str  # WINNING or RANDOM
    init: str
    run_id: str
    layers: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        return f"{self.dataset}/trial-{self.trial:02d}/{self.kind}"

    @property
    def winning(self) -> bool:
        return self.kind == WINNING
