"""Every registered model's declaration matches the network it builds: its prunable layers in forward order,
their groups and shapes, its input shape and its default rates (Frankle & Carbin 2019's architectures)."""

import pytest
import torch

from lottery import seeds
from lottery.hparams import PAPER_RATES, RATE_GROUPS, PruningHparams
from lottery.models import MODELS, spec
from lottery.models.network import build, initial_weights, network_class

# model -> the shape of each prunable weight, in forward order (PyTorch layout)
SHAPES = {
    "conv2": [(64, 3, 3, 3), (64, 64, 3, 3), (256, 16384), (256, 256), (10, 256)],
    "conv4": [
        (64, 3, 3, 3),
        (64, 64, 3, 3),
        (128, 64, 3, 3),
        (128, 128, 3, 3),
        (256, 8192),
        (256, 256),
        (10, 256),
    ],
    "conv6": [
        (64, 3, 3, 3),
        (64, 64, 3, 3),
        (128, 64, 3, 3),
        (128, 128, 3, 3),
        (256, 128, 3, 3),
        (256, 256, 3, 3),
        (256, 4096),
        (256, 256),
        (10, 256),
    ],
    "lenet300": [(300, 3072), (100, 300), (10, 100)],
    "toy": [(8, 3, 3, 3), (32, 512), (10, 32)],
}


def test_every_registered_model_is_described_here():
    assert set(SHAPES) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_model_declares_the_layers_it_builds(name):
    declared = spec(name)
    network = network_class(name)()
    weights = network.prunable_weights()
    assert declared.name == name and list(weights) == list(declared.layer_names)
    assert [tuple(w.shape) for w in weights.values()] == SHAPES[name]
    # every weighted module is declared: nothing trains unpruned
    weighted = [n for n, m in network.named_modules() if getattr(m, "weight", None) is not None]
    assert sorted(weighted) == sorted(declared.layer_names)
    groups = [declared.group(layer) for layer in declared.layer_names]
    assert set(groups) <= set(RATE_GROUPS) and groups[-1] == "output" and groups.count("output") == 1
    for layer, shape in zip(declared.layer_names, SHAPES[name], strict=True):
        assert (declared.group(layer) == "conv") == (len(shape) == 4), layer
    images = torch.zeros(2, *declared.input_shape)
    assert network(images).shape == (2, declared.num_classes)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_theta0_is_glorot_normal_with_zero_biases(name):
    theta0 = initial_weights(name, seeds.torch_generator(0, 0, seeds.INIT_STREAM))
    network = build(name, theta0)
    for layer, weight in theta0.items():
        assert torch.equal(network.layer(layer).weight, weight)
        assert not network.layer(layer).bias.any()
    layer, weight = max(theta0.items(), key=lambda item: item[1].numel())
    receptive = weight[0, 0].numel() if weight.dim() == 4 else 1
    expected = (2 / ((weight.shape[0] + weight.shape[1]) * receptive)) ** 0.5
    assert abs(weight.std().item() / expected - 1) < 0.05, layer


def test_rates_are_the_models_unless_set():
    assert spec("conv2").default_rates == spec("conv4").default_rates == PAPER_RATES
    assert spec("conv6").default_rates == {"conv": 0.15, "dense": 0.2, "output": 0.1}
    conv6 = spec("conv6").rates(PruningHparams())
    assert conv6["conv1"] == conv6["conv6"] == 0.15 and conv6["dense1"] == 0.2 and conv6["output"] == 0.1
    assert spec("conv6").rates(PruningHparams(conv_rate=0.3))["conv3"] == 0.3
    assert set(spec("lenet300").rates(PruningHparams()).values()) == {0.2, 0.1}
