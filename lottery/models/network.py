"""Building the networks of `lottery.models`: the module class, θ0, and a network with given weights."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from lottery.models import MODELS, ModelSpec, check


class PrunableNetwork(nn.Module):
    """A network whose prunable layers are attributes named as in `SPEC.layers` (PyTorch weight layout)."""

    SPEC: ModelSpec

    def layer(self, name: str) -> nn.Module:
        return getattr(self, name)

    def prunable_weights(self) -> dict[str, torch.Tensor]:
        """The prunable weight tensors, keyed by layer name in forward order."""
        return {name: self.layer(name).weight for name in self.SPEC.layer_names}


class ConvChain(PrunableNetwork):
    """A VGG-like chain, Frankle & Carbin's Conv-2/4/6: `BLOCKS` of 3×3 `same` convolutions (their filter
    counts), each block followed by a 2×2 max-pool, then the dense layers `DENSE` and the output layer; ReLU
    after every hidden layer. The layers are `conv1`…, `dense1`…, `output`, as `SPEC` declares them."""

    BLOCKS: tuple[tuple[int, ...], ...]
    DENSE: tuple[int, ...]

    def __init__(self) -> None:
        super().__init__()
        channels, height, width = self.SPEC.input_shape
        convs = [width for block in self.BLOCKS for width in block]
        for index, (fan_in, fan_out) in enumerate(zip([channels, *convs], convs, strict=False), start=1):
            setattr(self, f"conv{index}", nn.Conv2d(fan_in, fan_out, kernel_size=3, padding=1))
        side = 2 ** len(self.BLOCKS)
        flat = convs[-1] * (height // side) * (width // side)
        for index, (fan_in, fan_out) in enumerate(
            zip([flat, *self.DENSE], self.DENSE, strict=False), start=1
        ):
            setattr(self, f"dense{index}", nn.Linear(fan_in, fan_out))
        self.output = nn.Linear(self.DENSE[-1], self.SPEC.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = 0
        for block in self.BLOCKS:
            for _ in block:
                index += 1
                x = torch.relu(self.layer(f"conv{index}")(x))
            x = nn.functional.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        for index in range(1, len(self.DENSE) + 1):
            x = torch.relu(self.layer(f"dense{index}")(x))
        return self.output(x)


def network_class(name: str) -> type[PrunableNetwork]:
    """The `Network` class of model `name`; UserError naming the choices if unknown."""
    check(name)
    return importlib.import_module(MODELS[name]).Network


def glorot_std(shape: Sequence[int]) -> float:
    """The standard deviation of Glorot-normal (Xavier) weights of a layer of `shape` (PyTorch layout: out,
    in, kernel…): sqrt(2 / (fan_in + fan_out)), fan_in = in · kernel area, fan_out = out · kernel area —
    θ0's distribution, and that of the controls that draw weights afresh."""
    receptive = math.prod(shape[2:])
    return math.sqrt(2.0 / float((shape[0] + shape[1]) * receptive))


def initial_weights(name: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """θ0 of model `name`: Glorot-normal weights (`glorot_std`) for each prunable layer, drawn on the CPU from
    `generator` in forward order (float32)."""
    network = network_class(name)()
    with torch.no_grad():
        for weight in network.prunable_weights().values():
            weight.normal_(0.0, glorot_std(weight.shape), generator=generator)
    return {layer: w.detach().clone() for layer, w in network.prunable_weights().items()}


def build(name: str, theta0: Mapping[str, torch.Tensor]) -> PrunableNetwork:
    """Model `name` with weights θ0 and zero biases."""
    network = network_class(name)()
    with torch.no_grad():
        for layer in network.SPEC.layer_names:
            network.layer(layer).weight.copy_(theta0[layer])
            network.layer(layer).bias.zero_()
    return network
