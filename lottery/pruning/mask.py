"""Masks: one bool tensor per prunable layer (True = weight kept), keyed by layer name in forward order."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

Mask = dict[str, torch.Tensor]


def full(weights: Mapping[str, torch.Tensor]) -> Mask:
    """The dense network's mask: every weight kept."""
    return {name: torch.ones_like(w, dtype=torch.bool, device="cpu") for name, w in weights.items()}


def counts(mask: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Remaining weights per layer."""
    return {name: int(m.sum()) for name, m in mask.items()}


def sparsity(mask: Mapping[str, torch.Tensor]) -> float:
    """Fraction of all prunable weights removed."""
    total = sum(m.numel() for m in mask.values())
    return 1.0 - sum(counts(mask).values()) / total


def remaining_fraction(mask: Mapping[str, torch.Tensor]) -> dict[str, float]:
    return {name: int(m.sum()) / m.numel() for name, m in mask.items()}


def number_to_prune(remaining: int, rate: float) -> int:
    """round(rate · remaining) weights leave a layer in one round, rounding half up.

    With the default rates this gives the paper's 68.6 % (conv, output) / 91.4 % (dense) after 11 rounds.
    """
    return math.floor(rate * remaining + 0.5)


def prune_by_magnitude(
    weights: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor], rates: Mapping[str, float]
) -> Mask:
    """One IMP step: from each layer remove the round(rate·n) remaining weights of smallest |w|.

    The new mask is nested in the old one (a pruned weight never returns). Among weights tied at the
    threshold magnitude the first ones by position go, so the result is deterministic.
    """
    pruned: Mask = {}
    for name, old in mask.items():
        kept = old.flatten().nonzero().squeeze(1)
        magnitudes = weights[name].detach().to("cpu", torch.float32).flatten()[kept].abs()
        drop = _smallest(magnitudes, number_to_prune(kept.numel(), rates[name]))
        new = old.flatten().clone()
        new[kept[drop]] = False
        pruned[name] = new.view_as(old)
    return pruned


def _smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k smallest `values`, ties at the threshold broken by position (O(n), no sort)."""
    if k == 0:
        return torch.empty(0, dtype=torch.long)
    threshold = values.kthvalue(k).values
    below = (values < threshold).nonzero().squeeze(1)
    tied = (values == threshold).nonzero().squeeze(1)
    return torch.cat([below, tied[: k - below.numel()]])


def random_like(mask: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Mask:
    """A uniformly random mask with exactly as many weights per layer as `mask`."""
    result: Mask = {}
    for name, m in mask.items():
        chosen = rng.choice(m.numel(), size=int(m.sum()), replace=False)
        flat = np.zeros(m.numel(), dtype=bool)
        flat[chosen] = True
        result[name] = torch.from_numpy(flat).view(m.shape)
    return result


def to_numpy(mask: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: m.cpu().numpy().astype(bool) for name, m in mask.items()}


def from_numpy(arrays: Mapping[str, np.ndarray]) -> Mask:
    return {name: torch.from_numpy(np.asarray(a, dtype=bool).copy()) for name, a in arrays.items()}
