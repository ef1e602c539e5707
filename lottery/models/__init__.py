"""The networks, by name: each model module declares its prunable weight layers (names in forward order and
the pruning group of each, one of `lottery.hparams.RATE_GROUPS`) and its input shape, and builds its
`nn.Module`; θ0 is Glorot-normal for every model.

Adding a model is one module here that defines `SPEC` (a `ModelSpec`) and the `Network` class, registered in
`MODELS`. Every other part — masks, pruning rates, the tracking contract's `.npz` keys, the analysis — takes
the layers from the spec or from the ticket. This module (the registry and the specs) is free of torch, so
the CLI lists the models before loading anything heavy; `network`, which builds them and draws θ0, and the
model modules import torch. Imports only the foundations (`lottery.errors`, `hparams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from lottery.errors import UserError
from lottery.hparams import PruningHparams, default_rates

# model name -> module under lottery.models defining SPEC and Network
MODELS: dict[str, str] = {
    "conv2": "lottery.models.conv2",
    "conv4": "lottery.models.conv4",
    "conv6": "lottery.models.conv6",
    "lenet300": "lottery.models.lenet300",
    "toy": "lottery.models.toy",
}


@dataclass(frozen=True)
class ModelSpec:
    """A network as the library sees it: `layers` = (name, group) of each prunable weight layer in forward
    order, the `input_shape` (channels, height, width) of one image, `num_classes`, and the per-round
    pruning rate of each group unless the user sets it (`default_rates`, declared with the hyperparameters:
    `lottery.hparams.MODEL_RATES`)."""

    name: str
    layers: tuple[tuple[str, str], ...]
    input_shape: tuple[int, int, int]
    num_classes: int = 10

    @property
    def default_rates(self) -> Mapping[str, float]:
        return default_rates(self.name)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.layers)

    def group(self, layer: str) -> str:
        return dict(self.layers)[layer]

    def rates(self, pruning: PruningHparams) -> dict[str, float]:
        """Each prunable layer's per-round pruning rate: its group's rate in `pruning`, else the model's."""
        rates = pruning.with_default_rates(self.default_rates)
        return {name: cast(float, rates.rate(group)) for name, group in self.layers}


def chain_layers(convs: int, denses: int) -> tuple[tuple[str, str], ...]:
    """The layers of a chain, in forward order: `conv1`…`conv<convs>` (group conv), `dense1`…`dense<denses>`
    (group dense), then `output`."""
    return (
        *((f"conv{i}", "conv") for i in range(1, convs + 1)),
        *((f"dense{i}", "dense") for i in range(1, denses + 1)),
        ("output", "output"),
    )


def spec(name: str) -> ModelSpec:
    """The declaration of model `name`; UserError naming the choices if unknown."""
    from lottery.models.network import network_class

    return network_class(name).SPEC


def check(name: str) -> None:
    """UserError naming the choices unless `name` is a registered model."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
