"""Building the networks of `lottery.models`: the module class, θ0, and a network with given weights."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

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


def network_class(name: str) -> type[PrunableNetwork]:
    """The `Network` class of model `name`; UserError naming the choices if unknown."""
    check(name)
    return importlib.import_module(MODELS[name]).Network


def initial_weights(name: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """θ0 of model `name`: Glorot-normal weights for each prunable layer, drawn on the CPU from `generator`
    in forward order (float32)."""
    network = network_class(name)()
    with torch.no_grad():
        for weight in network.prunable_weights().values():
            nn.init.xavier_normal_(weight, generator=generator)
    return {layer: w.detach().clone() for layer, w in network.prunable_weights().items()}


def build(name: str, theta0: Mapping[str, torch.Tensor]) -> PrunableNetwork:
    """Model `name` with weights θ0 and zero biases."""
    network = network_class(name)()
    with torch.no_grad():
        for layer in network.SPEC.layer_names:
            network.layer(layer).weight.copy_(theta0[layer])
            network.layer(layer).bias.zero_()
    return network
