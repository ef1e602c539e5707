"""NNSTD (Liu et al. 2020) extended to conv filters, and the sign-aware NNSTD±, robust to ties.

Layer by layer in forward order, network 1 against network 2:
  C_ij = NED (for NNSTD±: NED±_w) between unit i of network 1 and unit j of network 2, network 2's inputs
        taken in the order set by the previous layer's matching (conv → dense: one 16·16 block per channel);
  σ    = a one-to-one matching of minimum total cost (Hungarian: scipy.optimize.linear_sum_assignment);
  d_k  = Σ_i C_iσ(i) / units — the layer distance; σ then reorders the inputs of layer k+1 of network 2.
Every layer is matched, the output layer included. NNSTD (NNSTD±) = the mean of the layer distances.

Where a layer has several optimal matchings (`analysis.distances.matching`), d_k is the same for all, but
the one carried forward changes the later layers. Two ways to choose it (`ties`):
- `first`: scipy's, the one its algorithm meets first — Liu et al.'s procedure and the paper's, kept for
  comparison with published numbers. It depends on the order of the units in memory, so it is not
  invariant to relabelling hidden units, and d(a, b) may differ from d(b, a).
- `average`: the expected layer distances when, at every tied layer, the matching carried forward is drawn
  at random among the optimal ones; estimated from `draws` seeded draws in each direction (a → b and
  b → a), averaged, so the result is exactly symmetric. A layer is solved once per matching carried into
  it: draws that carry a matching already seen reuse its solution, and a layer without ties carries its
  one optimum without drawing. The draws' range of the NNSTD (NNSTD±) values is the pair's tie spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.distances.incoming import LayerSets, ticket_sets
from analysis.distances.matching import LayerMatch, first_matching, inverse, solve
from analysis.distances.ned import cost_matrix
from analysis.parallel import thread_map
from lottery import seeds

# metric name -> whether it compares signed sets (NED±) rather than plain ones (NED)
METRICS: dict[str, bool] = {"nnstd": False, "nnstd_pm": True}
TIES = ("average", "first")
DEFAULT_DRAWS = 8  # per direction: see docs/analysis.md, "Ties"
DEFAULT_POSITIVE_WEIGHT = 0.5  # NED± as the paper defines it


@dataclass(frozen=True)
class Method:
    """How a distance is computed: the tie rule, draws per direction, their seed, NED±'s weight of G⁺."""

    ties: str = "average"
    draws: int = DEFAULT_DRAWS
    seed: int = 0
    positive_weight: float = DEFAULT_POSITIVE_WEIGHT

    def __post_init__(self) -> None:
        if self.ties not in TIES:
            raise ValueError(f"ties must be one of {', '.join(TIES)}, got {self.ties!r}")
        if self.draws < 1:
            raise ValueError(f"draws must be >= 1, got {self.draws}")
        if not 0 <= self.positive_weight <= 1:
            raise ValueError(f"the positive weight must lie in [0, 1], got {self.positive_weight}")


@dataclass(frozen=True)
class PairDistance:
    """The layer distances of one pair and the tie spread of their mean (NaN under `first`: not drawn)."""

    layers: np.ndarray
    spread: float


def _check_shapes(a: Sequence[LayerSets], b: Sequence[LayerSets]) -> None:
    if [layer.shape for layer in a] != [layer.shape for layer in b]:
        raise ValueError("the two networks differ in their layers' shapes")


def layer_distances(
    a: Sequence[LayerSets], b: Sequence[LayerSets], *, signed: bool, positive_weight: float = 0.5
) -> np.ndarray:
    """d_k for every layer k, carrying scipy's matching forward (`ties="first"`): today's and Liu et al.'s
    algorithm exactly."""
    _check_shapes(a, b)
    distances = np.empty(len(a))
    matching = None
    for k, (layer_a, layer_b) in enumerate(zip(a, b, strict=True)):
        cost = cost_matrix(layer_a, layer_b, matching, signed=signed, positive_weight=positive_weight)
        matching = first_matching(cost)
        distances[k] = cost[np.arange(len(matching)), matching].sum() / layer_a.units
    return distances


class _Layers:
    """The layers of a pair solved once per matching carried into them, in the orientation (a, b); the
    direction b → a reads the same solutions transposed (its costs are exactly their transposes)."""

    def __init__(self, a: Sequence[LayerSets], b: Sequence[LayerSets], signed: bool, positive_weight: float):
        self.a, self.b, self.signed, self.positive_weight = a, b, signed, positive_weight
        self.solved: dict[tuple[int, bytes | None], LayerMatch] = {}

    def solve(self, k: int, carried: np.ndarray | None) -> LayerMatch:
        """Layer k with network b's inputs ordered by `carried` (a's units → b's units of layer k − 1)."""
        key = (k, None if carried is None else carried.tobytes())
        if key not in self.solved:
            cost = cost_matrix(
                self.a[k], self.b[k], carried, signed=self.signed, positive_weight=self.positive_weight
            )
            self.solved[key] = solve(cost, detect_ties=k + 1 < len(self.a))  # the last carries nothing
        return self.solved[key]

    def draw(self, rng: np.random.Generator, reverse: bool) -> np.ndarray:
        """One draw's layer distances in the direction a → b, or b → a if `reverse`."""
        distances = np.empty(len(self.a))
        carried = None  # in the orientation (a, b)
        for k in range(len(self.a)):
            layer = self.solve(k, carried)
            distances[k] = layer.distance
            if k + 1 < len(self.a):
                carried = inverse(layer.transposed().draw(rng)) if reverse else layer.draw(rng)
        return distances


def _pair_generator(seed: int, key: tuple[int, ...], draw: int) -> np.random.Generator:
    return seeds.numpy_rng(seed, *key, draw)


def _average(rows: np.ndarray) -> np.ndarray:
    """The column means, exactly symmetric in the order of the rows and exactly a column's value when all
    its rows are equal: the minimum plus the exactly rounded mean of the excesses over it."""
    low = rows.min(axis=0)
    excess = rows - low
    return low + np.array([math.fsum(column) for column in excess.T]) / len(rows)


def pair_distance(
    a: Sequence[LayerSets], b: Sequence[LayerSets], *, signed: bool, method: Method, key: tuple[int, ...] = ()
) -> PairDistance:
    """The layer distances of networks a and b (their incoming sets) by `method`; `key` (symmetric in the
    two networks) makes the draws of different pairs independent."""
    if method.ties == "first":
        return PairDistance(
            layer_distances(a, b, signed=signed, positive_weight=method.positive_weight), math.nan
        )
    _check_shapes(a, b)
    layers = _Layers(a, b, signed, method.positive_weight)
    rows = np.array(
        [
            layers.draw(_pair_generator(method.seed, key, r), reverse)
            for reverse in (False, True)
            for r in range(method.draws)
        ]
    )
    nnstd_per_draw = rows.mean(axis=1)
    return PairDistance(_average(rows), float(nnstd_per_draw.max() - nnstd_per_draw.min()))


def nnstd(
    a: Sequence[np.ndarray],
    b: Sequence[np.ndarray],
    *,
    signed: bool,
    ties: str = "average",
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    positive_weight: float = DEFAULT_POSITIVE_WEIGHT,
) -> list[float]:
    """Per-layer distances between two signed tickets (arrays of −1/0/+1 in PyTorch layout, forward order).

    Their mean is NNSTD (`signed=False`, NED) or NNSTD± (`signed=True`, NED±_w with w = `positive_weight`);
    `ties`, `draws` and `seed` as in the module docstring.
    """
    method = Method(ties, draws, seed, positive_weight)
    return pair_distance(ticket_sets(a), ticket_sets(b), signed=signed, method=method).layers.tolist()


def pair_key(first: str, second: str) -> tuple[int, int]:
    """A seed key for the pair of tickets named `first` and `second`, the same in either order."""
    return tuple(sorted(seeds.name_entropy(name) for name in (first, second)))


@dataclass(frozen=True)
class Distances:
    """Every compared pair's layer distances (pairs × layers) and tie spreads (pairs)."""

    layers: np.ndarray
    spread: np.ndarray

    def __getitem__(self, rows: slice) -> Distances:
        return Distances(self.layers[rows], self.spread[rows])


def pair_distances(
    sets: Sequence[Sequence[LayerSets]],
    pairs: np.ndarray,
    method: Method = Method(),  # noqa: B008 (frozen)
    names: Sequence[str] | None = None,
) -> dict[str, Distances]:
    """Metric → the distances of each pair (i, j) of indices into `sets`.

    `names[i]` names network i for the draws' seeds (default: its index), so that a pair's draws do not
    depend on which other pairs are compared. Every (metric, pair) is an independent task; tasks run in
    parallel threads.
    """
    names = [str(i) for i in range(len(sets))] if names is None else names
    tasks = [(metric, int(i), int(j)) for metric in METRICS for i, j in pairs]

    def run(task: tuple[str, int, int]) -> PairDistance:
        metric, i, j = task
        key = pair_key(names[i], names[j])
        return pair_distance(sets[i], sets[j], signed=METRICS[metric], method=method, key=key)

    results = thread_map(run, tasks)
    layers = len(sets[0]) if sets else 0
    by_metric = {}
    for k, metric in enumerate(METRICS):
        chunk = results[k * len(pairs) : (k + 1) * len(pairs)]
        by_metric[metric] = Distances(
            np.array([r.layers for r in chunk]).reshape(len(pairs), layers),
            np.array([r.spread for r in chunk], dtype=np.float64),
        )
    return by_metric
