"""Whether a trial's final ticket is winning, and why not.

A ticket is winning when its test accuracy is at least the dense network's minus the tolerance — and only
if the dense network learned something: its accuracy must clear chance, the accuracy of always answering
the test split's most frequent class, by a margin of max(5 points, 3 binomial standard errors of chance
accuracy on the test split's size). Five points rule out a network that is technically better than guessing
but useless; three standard errors rule out luck on a small test split (60 images: 11.6 points). Without
this rule a network stuck at chance (too high a learning rate) would make every ticket "winning", since a
ticket at chance matches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_MARGIN = 0.05
STANDARD_ERRORS = 3.0

WINNING = "winning"
BELOW_DENSE = "below_dense"
DENSE_AT_CHANCE = "dense_at_chance"


def chance_threshold(test_labels: torch.Tensor) -> tuple[float, float]:
    """(chance accuracy, the accuracy a dense network must reach to count as having learned)."""
    counts = torch.bincount(test_labels.flatten().cpu().long())
    n = int(counts.sum())
    chance = int(counts.max()) / n
    margin = max(MIN_MARGIN, STANDARD_ERRORS * math.sqrt(chance * (1 - chance) / n))
    return chance, chance + margin


@dataclass(frozen=True)
class Verdict:
    """`code` (the `lottery.verdict` tag: winning, below_dense or dense_at_chance) and a one-line reason."""

    code: str
    reason: str

    @property
    def winning(self) -> bool:
        return self.code == WINNING

    @property
    def dense_at_chance(self) -> bool:
        return self.code == DENSE_AT_CHANCE


def judge(
    dense_acc: float, final_acc: float, tolerance_points: float, test_labels: torch.Tensor | None = None
) -> Verdict:
    """The verdict on a final ticket of accuracy `final_acc` whose dense network reached `dense_acc`; chance
    is checked against the `test_labels` (None: not known, as for a user's own model, and not checked)."""
    chance, needed = chance_threshold(test_labels) if test_labels is not None else (0.0, 0.0)
    if dense_acc < needed:
        return Verdict(
            DENSE_AT_CHANCE,
            f"not winning, the dense network is at chance ({dense_acc:.2%}; chance {chance:.2%}, "
            f"learning needs ≥ {needed:.2%}): check the learning rate",
        )
    floor = dense_acc - tolerance_points / 100
    if final_acc >= floor:
        return Verdict(WINNING, "winning")
    return Verdict(
        BELOW_DENSE, f"not winning, below the dense network's {dense_acc:.2%} − {tolerance_points:g} pt"
    )
