"""One layer's optimal matching, and whether it is the only one.

For a cost matrix C (units of network 1 × units of network 2) a matching σ costs Σ_i C_iσ(i); the layer
distance is the minimum cost / units. Several matchings can reach the minimum (NED values are fractions
with small denominators, so equal costs are common in sparse layers): they give the same layer distance,
but which one is carried forward changes every later layer.

Ties, numerically: σ' ties with the optimum σ when its extra cost is below TIE_TOLERANCE per unit it
reassigns. The costs are exact fractions rounded once (error ~1e-16), so exact ties show up as extra costs
near 1e-16; genuinely different matchings of Conv-2-sized layers differ by far more (two units swapped
between sets of ≤ 700 inputs change the cost by ≥ 700⁻⁴ ≈ 4e-12, and in practice by ≥ 1e-4).

- Detection: the optimum of C with TIE_TOLERANCE added to each edge of σ is σ again iff no σ' ties with
  σ (σ' reassigning m units pays m · TIE_TOLERANCE less than σ there). One more assignment solve.
- A draw among the optimal matchings: the optimum of C + TIE_TOLERANCE · U, U uniform on [0, 1) i.i.d.
  per entry; every matching it returns ties with σ (by the same bound), and every tied matching has a
  positive probability. The law is not the uniform law over the tied matchings (sampling that is #P-hard
  in general), but it is invariant under relabelling the units of either network, which is what makes the
  expected distance a property of the two networks rather than of the order of their units in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

# Per reassigned unit, in NED units: 1e5 × the rounding of a cost and of scipy's solver, far below any real
# difference of costs.
TIE_TOLERANCE = 1e-11


def first_matching(cost: np.ndarray) -> np.ndarray:
    """scipy's optimal matching (σ[i] = the unit of network 2 matched to unit i of network 1): among tied
    optima, the one its algorithm meets first, which depends on the order of the units in memory."""
    return linear_sum_assignment(cost)[1]


@dataclass(frozen=True)
class LayerMatch:
    """A layer's minimum-cost matching problem, solved: the distance (min cost / units, the cost summed
    exactly rounded, so the same in either orientation), scipy's matching, and whether others tie with it."""

    cost: np.ndarray
    distance: float
    first: np.ndarray
    tied: bool

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A matching drawn among the optimal ones (see the module docstring); `first` when it is unique."""
        if not self.tied:
            return self.first
        return first_matching(self.cost + TIE_TOLERANCE * rng.random(self.cost.shape))

    def transposed(self) -> LayerMatch:
        """The same problem seen from network 2 (its units as rows), reusing this solution."""
        return LayerMatch(self.cost.T, self.distance, inverse(self.first), self.tied)


def inverse(matching: np.ndarray) -> np.ndarray:
    inverted = np.empty_like(matching)
    inverted[matching] = np.arange(len(matching), dtype=matching.dtype)
    return inverted


def solve(cost: np.ndarray, *, detect_ties: bool) -> LayerMatch:
    """The layer's optimum and, if `detect_ties`, whether another matching ties with it."""
    first = first_matching(cost)
    units = np.arange(len(first))
    distance = math.fsum(cost[units, first]) / len(first)
    tied = False
    if detect_ties and len(first) > 1:
        penalised = cost.copy()
        penalised[units, first] += TIE_TOLERANCE
        tied = not np.array_equal(first_matching(penalised), first)
    return LayerMatch(cost, distance, first, tied)
