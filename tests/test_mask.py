import math

import numpy as np
import pytest
import torch

from lottery import mask as masks
from lottery.hparams import PruningHparams
from lottery.layers import LAYER_NAMES
from lottery.model import initial_weights

SHAPES = {
    "conv1": (64, 3, 3, 3),
    "conv2": (64, 64, 3, 3),
    "dense1": (256, 16384),
    "dense2": (256, 256),
    "output": (10, 256),
}


def expected_remaining(total: int, rate: float, rounds: int) -> int:
    remaining = total
    for _ in range(rounds):
        remaining -= math.floor(rate * remaining + 0.5)
    return remaining


def random_weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=g) for name, shape in SHAPES.items()}


@pytest.mark.parametrize("rounds", [1, 3])
def test_exact_counts_after_r_rounds_and_nesting(rounds):
    pruning = PruningHparams()
    mask = masks.full(random_weights(0))
    for r in range(rounds):
        new = masks.prune_by_magnitude(random_weights(r + 1), mask, pruning.rate)
        for name in LAYER_NAMES:
            assert not (new[name] & ~mask[name]).any(), "a pruned weight came back"
        mask = new
    for name, shape in SHAPES.items():
        assert int(mask[name].sum()) == expected_remaining(math.prod(shape), pruning.rate(name), rounds)


def test_paper_sparsities_after_eleven_rounds():
    pruning = PruningHparams()
    totals = {name: math.prod(shape) for name, shape in SHAPES.items()}
    left = {name: expected_remaining(n, pruning.rate(name), 11) for name, n in totals.items()}
    assert 1 - left["conv1"] / totals["conv1"] == pytest.approx(0.686, abs=0.001)
    assert 1 - left["dense1"] / totals["dense1"] == pytest.approx(0.914, abs=0.001)
    assert 1 - left["output"] / totals["output"] == pytest.approx(0.686, abs=0.001)
    assert 1 - sum(left.values()) / sum(totals.values()) == pytest.approx(0.912, abs=0.001)


def test_prunes_the_smallest_remaining_magnitudes():
    weights = random_weights(3)
    mask = masks.full(weights)
    new = masks.prune_by_magnitude(weights, mask, lambda name: 0.3)
    for name in LAYER_NAMES:
        magnitude = weights[name].abs()
        assert magnitude[~new[name]].max() <= magnitude[new[name]].min()


def test_random_mask_has_the_same_counts_and_is_seeded():
    mask = masks.prune_by_magnitude(random_weights(1), masks.full(random_weights(1)), lambda name: 0.9)
    one = masks.random_like(mask, np.random.default_rng(5))
    two = masks.random_like(mask, np.random.default_rng(5))
    assert masks.counts(one) == masks.counts(mask)
    assert all(torch.equal(one[n], two[n]) for n in LAYER_NAMES)
    assert not torch.equal(one["dense1"], mask["dense1"])


def test_initial_weights_are_glorot_normal_and_seeded():
    a = initial_weights(torch.Generator().manual_seed(1))
    b = initial_weights(torch.Generator().manual_seed(1))
    assert all(torch.equal(a[n], b[n]) for n in LAYER_NAMES)
    fan_in, fan_out = 16384, 256
    assert a["dense1"].std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.01)


def test_ties_at_the_threshold_go_by_position():
    weights = {"conv1": torch.ones(2, 3)}
    pruned = masks.prune_by_magnitude(weights, masks.full(weights), lambda name: 0.5)
    assert pruned["conv1"].flatten().tolist() == [False, False, False, True, True, True]
