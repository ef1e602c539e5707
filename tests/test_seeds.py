"""The one derivation of seeds (`lottery.seeds`) and of Glorot-normal weights, held to the formulas the stores
and analyses were made with: a change here would change every mask, random ticket and drawn pair."""

import zlib

import numpy as np
import pytest
import torch
from torch import nn

from lottery import seeds
from lottery.models.network import initial_weights, network_class
from lottery.pruning.controls import redrawn


@pytest.mark.parametrize("entropy", [(0,), (5, 1, 2), (12345, 2**32 - 1, 2**40, 7)])
def test_a_generator_is_numpys_of_its_entropy_draw_for_draw(entropy):
    assert np.array_equal(seeds.numpy_rng(*entropy).random(8), np.random.default_rng(list(entropy)).random(8))


def test_names_enter_the_entropy_as_they_always_did():
    assert seeds.name_entropy("WTs_digits") == zlib.crc32(b"WTs_digits")
    assert seeds.name_stream("shuffled", "batches") == 2892863431  # a control's stream, pinned by its stores
    assert seeds.name_stream("signs", "draws") >= 1 << 31 > seeds.RANDOM_BATCHES_STREAM


def test_theta0_is_torchs_glorot_normal_and_a_redraw_has_its_spread():
    theta0 = initial_weights("conv2", seeds.torch_generator(3, 1, seeds.INIT_STREAM))
    network, generator = network_class("conv2")(), seeds.torch_generator(3, 1, seeds.INIT_STREAM)
    with torch.no_grad():
        for name, weight in network.prunable_weights().items():
            nn.init.xavier_normal_(weight, generator=generator)
            assert torch.equal(weight, theta0[name]), name
    fresh = redrawn(theta0, seeds.numpy_rng(0))
    for name, weight in theta0.items():
        assert fresh[name].shape == weight.shape
        assert float(fresh[name].std()) == pytest.approx(float(weight.std()), rel=0.1), name
