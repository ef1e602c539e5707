"""NNSTD (Liu et al. 2020) extended to conv filters, and the sign-aware NNSTD±.

Layer by layer in forward order, network 1 against network 2:
  C_ij = NED (for NNSTD±: NED±) between unit i of network 1 and unit j of network 2, network 2's inputs
        taken in the order set by the previous layer's matching (conv → dense: one 16·16 block per channel);
  σ    = the one-to-one matching of minimum total cost (Hungarian: scipy.optimize.linear_sum_assignment);
  d_k  = Σ_i C_iσ(i) / units — the layer distance; σ then reorders the inputs of layer k+1 of network 2.
Every layer is matched, the output layer included. NNSTD (NNSTD±) = the mean of the layer distances.
The distances are symmetric in the two networks whenever each layer's optimal matching is unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from analysis.distances.incoming import LayerSets, ticket_sets
from analysis.distances.ned import cost_matrix
from analysis.parallel import thread_map

# metric name -> whether it compares signed sets (NED±) rather than plain ones (NED)
METRICS: dict[str, bool] = {"nnstd": False, "nnstd_pm": True}


def layer_distances(a: Sequence[LayerSets], b: Sequence[LayerSets], *, signed: bool) -> np.ndarray:
    """d_k for every layer k of two networks given as their incoming sets (see the module docstring)."""
    if [layer.shape for layer in a] != [layer.shape for layer in b]:
        raise ValueError("the two networks differ in their layers' shapes")
    distances = np.empty(len(a))
    matching = None
    for k, (layer_a, layer_b) in enumerate(zip(a, b, strict=True)):
        cost = cost_matrix(layer_a, layer_b, matching, signed=signed)
        units, matching = linear_sum_assignment(cost)
        distances[k] = cost[units, matching].sum() / layer_a.units
    return distances


def nnstd(a: Sequence[np.ndarray], b: Sequence[np.ndarray], *, signed: bool) -> list[float]:
    """Per-layer distances between two signed tickets (arrays of −1/0/+1 in PyTorch layout, forward order).

    Their mean is NNSTD (`signed=False`, NED) or NNSTD± (`signed=True`, NED±).
    """
    return layer_distances(ticket_sets(a), ticket_sets(b), signed=signed).tolist()


def pair_distances(sets: Sequence[Sequence[LayerSets]], pairs: np.ndarray) -> dict[str, np.ndarray]:
    """Metric → (len(pairs), layers) array of layer distances for each pair (i, j) of indices into `sets`.

    Every (metric, pair) is an independent task; tasks run in parallel threads.
    """
    tasks = [(metric, int(i), int(j)) for metric in METRICS for i, j in pairs]

    def run(task: tuple[str, int, int]) -> np.ndarray:
        metric, i, j = task
        return layer_distances(sets[i], sets[j], signed=METRICS[metric])

    rows = thread_map(run, tasks)
    layers = len(sets[0]) if sets else 0
    return {
        metric: np.array(rows[k * len(pairs) : (k + 1) * len(pairs)]).reshape(len(pairs), layers)
        for k, metric in enumerate(METRICS)
    }
