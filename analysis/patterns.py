"""Signed 3×3 kernel patterns in the first conv layer of a group of tickets (paper §6, A.3).

A filter is one unit's 3×3×3 block (in-channel × row × column); a kernel is one filter's 3×3 slice for one
in-channel; kernel positions p = 0..8 run row-major. Over all tickets of the group:
- filter_histogram[n]: filters with n remaining weights (n = 0..27); filter_count_std: the SD (population)
  of the remaining weights per filter;
- position_counts[c, y, x]: remaining weights at each of the 27 filter positions, summed;
  position_count_std: their SD (population) across the 27 positions;
- sign_ratio = #positive / #negative remaining weights;
- kernels_with[n]: kernels with n remaining weights (n = 0..9);
- cooccurrence_pos[r, p] (cooccurrence_neg[r, p]): kernels with a positive weight at reference position r
  and a positive (negative) one at p; the diagonal of cooccurrence_pos counts the kernels positive at r;
- neighbour_pct_pos = 100 · Σ_kernels (pairs of positive weights that are horizontal or vertical neighbours)
  / Σ_kernels (pairs of positive weights), over kernels with ≥ 2 positive weights (pairs are unordered;
  12 of the 36 position pairs of a 3×3 kernel are neighbours, so random kernels give ≈ 33 %);
  neighbour_pct_neg likewise for negative weights;
- top_patterns[n]: the most frequent signed kernels with n = 2..7 remaining weights, with their counts.
They exist only for a network whose first layer is a 3×3 convolution (`has_kernels`); a dense-first one
such as LeNet-300-100 has none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIDE = 3
POSITIONS = SIDE * SIDE
PATTERN_SIZES = range(2, 8)
TOP_PATTERNS = 9  # the paper's Fig. 5 shows the nine most frequent per n
# the 12 unordered pairs of horizontally or vertically adjacent kernel positions
NEIGHBOURS = np.array(
    [(p, p + 1) for p in range(POSITIONS) if p % SIDE < SIDE - 1]
    + [(p, p + SIDE) for p in range(POSITIONS - SIDE)]
)
_DIGITS = 3 ** np.arange(POSITIONS)  # a signed kernel as a base-3 number, digit = sign + 1


@dataclass(frozen=True)
class Patterns:
    tickets: int
    filter_histogram: np.ndarray
    filter_count_std: float
    position_counts: np.ndarray
    position_count_std: float
    sign_ratio: float
    kernels_with: np.ndarray
    cooccurrence_pos: np.ndarray
    cooccurrence_neg: np.ndarray
    neighbour_pct_pos: float
    neighbour_pct_neg: float
    top_patterns: dict[int, list[tuple[np.ndarray, int]]]

    def metrics(self) -> dict[str, float]:
        """The scalar results under their MLflow metric names."""
        return {
            "filter_count_std": self.filter_count_std,
            "position_count_std": self.position_count_std,
            "sign_ratio": self.sign_ratio,
            **{f"kernels_with_{n}": float(count) for n, count in enumerate(self.kernels_with)},
            "neighbour_pct_pos": self.neighbour_pct_pos,
            "neighbour_pct_neg": self.neighbour_pct_neg,
        }


def has_kernels(shape: Sequence[int]) -> bool:
    """Whether a layer of this shape is a 3×3 convolution (filters × in-channels × 3 × 3), whose kernels
    the patterns count."""
    return len(shape) == 4 and tuple(shape[2:]) == (SIDE, SIDE)


def neighbour_pct(present: np.ndarray) -> float:
    """100 · neighbouring pairs / all pairs of marked positions, summed over kernels (rows of 9 booleans)."""
    counts = present.sum(axis=1, dtype=np.int64)
    pairs = int((counts * (counts - 1) // 2).sum())
    adjacent = int((present[:, NEIGHBOURS[:, 0]] & present[:, NEIGHBOURS[:, 1]]).sum())
    return 100.0 * adjacent / pairs if pairs else math.nan


def top_patterns(kernels: np.ndarray) -> dict[int, list[tuple[np.ndarray, int]]]:
    """n → the TOP_PATTERNS most frequent signed kernels with n remaining weights (ties: lower code first)."""
    codes, counts = np.unique((kernels.astype(np.int64) + 1) @ _DIGITS, return_counts=True)
    patterns = (codes[:, None] // _DIGITS % 3 - 1).astype(np.int8)
    sizes = np.count_nonzero(patterns, axis=1)
    top = {}
    for n in PATTERN_SIZES:
        index = np.flatnonzero(sizes == n)
        index = index[np.argsort(-counts[index], kind="stable")][:TOP_PATTERNS]
        top[n] = [(patterns[i].reshape(SIDE, SIDE), int(counts[i])) for i in index]
    return top


def kernel_patterns(conv1: Sequence[np.ndarray]) -> Patterns:
    """A group's pattern statistics, from each ticket's signed first conv layer (filters × in × 3 × 3)."""
    stack = np.stack(conv1)
    if not has_kernels(stack.shape[1:]):
        raise ValueError(
            f"first conv layers must be (filters, in_channels, 3, 3) each, got {stack.shape[1:]}"
        )
    kept = stack != 0
    filter_size = int(np.prod(stack.shape[2:]))
    per_filter = kept.reshape(-1, filter_size).sum(axis=1)
    position_counts = kept.sum(axis=(0, 1))
    kernels = stack.reshape(-1, POSITIONS)
    positive, negative = kernels > 0, kernels < 0
    n_positive, n_negative = int(positive.sum()), int(negative.sum())
    positive_int = positive.astype(np.int64)
    return Patterns(
        tickets=len(stack),
        filter_histogram=np.bincount(per_filter, minlength=filter_size + 1),
        filter_count_std=float(per_filter.std()),
        position_counts=position_counts,
        position_count_std=float(position_counts.std()),
        sign_ratio=n_positive / n_negative if n_negative else math.nan,
        kernels_with=np.bincount((positive | negative).sum(axis=1), minlength=POSITIONS + 1),
        cooccurrence_pos=positive_int.T @ positive_int,
        cooccurrence_neg=positive_int.T @ negative.astype(np.int64),
        neighbour_pct_pos=neighbour_pct(positive),
        neighbour_pct_neg=neighbour_pct(negative),
        top_patterns=top_patterns(kernels),
    )
