import math

import numpy as np
import pytest
import torch

from lottery.hparams import PruningHparams
from lottery.models import network
from lottery.models.conv2 import Network as Conv2
from lottery.models.network import initial_weights
from lottery.pruning import mask as masks

LAYER_NAMES = Conv2.SPEC.layer_names

SHAPES = {
    "conv1": (64, 3, 3, 3),
    "conv2": (64, 64, 3, 3),
    "dense1": (256, 16384),
    "dense2": (256, 256),
    "output": (10, 256),
}


def test_the_shapes_are_conv2s_and_it_classifies_32x32_images():
    """The shapes the paper's sparsities are checked on below are the network's own."""
    theta0 = initial_weights("conv2", torch.Generator().manual_seed(0))
    assert {name: tuple(weight.shape) for name, weight in theta0.items()} == SHAPES
    assert network.build("conv2", theta0)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


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
    rates = Conv2.SPEC.rates(PruningHparams())
    mask = masks.full(random_weights(0))
    for r in range(rounds):
        new = masks.prune_by_magnitude(random_weights(r + 1), mask, rates)
        for name in LAYER_NAMES:
            assert not (new[name] & ~mask[name]).any(), "a pruned weight came back"
        mask = new
    for name, shape in SHAPES.items():
        assert int(mask[name].sum()) == expected_remaining(math.prod(shape), rates[name], rounds)


def test_paper_sparsities_after_eleven_rounds():
    """Eleven rounds of the real pruning step on Conv-2's shapes give the paper's sparsities."""
    rates = Conv2.SPEC.rates(PruningHparams())
    mask = masks.full(random_weights(0))
    for r in range(11):
        mask = masks.prune_by_magnitude(random_weights(r + 1), mask, rates)
    removed = {name: 1 - kept for name, kept in masks.remaining_fraction(mask).items()}
    assert removed["conv1"] == pytest.approx(0.686, abs=0.001)
    assert removed["conv2"] == pytest.approx(0.686, abs=0.001)
    assert removed["dense1"] == pytest.approx(0.914, abs=0.001)
    assert removed["output"] == pytest.approx(0.686, abs=0.001)
    assert masks.sparsity(mask) == pytest.approx(0.912, abs=0.001)


def test_prunes_the_smallest_remaining_magnitudes():
    weights = random_weights(3)
    mask = masks.full(weights)
    new = masks.prune_by_magnitude(weights, mask, dict.fromkeys(weights, 0.3))
    for name in LAYER_NAMES:
        magnitude = weights[name].abs()
        assert magnitude[~new[name]].max() <= magnitude[new[name]].min()


def test_random_mask_has_the_same_counts_and_is_seeded():
    weights = random_weights(1)
    mask = masks.prune_by_magnitude(weights, masks.full(weights), dict.fromkeys(SHAPES, 0.9))
    one = masks.random_like(mask, np.random.default_rng(5))
    two = masks.random_like(mask, np.random.default_rng(5))
    assert masks.counts(one) == masks.counts(mask)
    assert all(torch.equal(one[n], two[n]) for n in LAYER_NAMES)
    assert not torch.equal(one["dense1"], mask["dense1"])


def test_initial_weights_are_glorot_normal_and_seeded():
    a = initial_weights("conv2", torch.Generator().manual_seed(1))
    b = initial_weights("conv2", torch.Generator().manual_seed(1))
    assert all(torch.equal(a[n], b[n]) for n in LAYER_NAMES)
    fan_in, fan_out = 16384, 256
    assert a["dense1"].std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.01)


def test_ties_at_the_threshold_go_by_position():
    weights = {"conv1": torch.ones(2, 3)}
    pruned = masks.prune_by_magnitude(weights, masks.full(weights), dict.fromkeys(weights, 0.5))
    assert pruned["conv1"].flatten().tolist() == [False, False, False, True, True, True]
