"""The networks, by name: each model module declares its prunable weight layers (names in forward order and
the pruning group of each, one of `GROUPS`) and its input shape, and builds its `nn.Module`; θ0 is
Glorot-normal for every model.

Adding a model is one module here that defines `SPEC` (a `ModelSpec`) and the `Network` class, registered in
`MODELS`. Every other part — masks, pruning rates, the tracking contract's `.npz` keys, the analysis — takes
the layers from the spec or from the ticket. This module is free of torch (the CLI lists the models before
loading anything heavy); `network` builds them. Imports only the foundations (`lottery.errors`, `hparams`,
`seeds`) and torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from lottery.errors import UserError
from lottery.hparams import PruningHparams

# model name -> module under lottery.models defining SPEC and Network
MODELS: dict[str, str] = {
    "conv2": "lottery.models.conv2",
    "toy": "lottery.models.toy",
}
GROUPS = ("conv", "dense", "output")  # the pruning groups: each has its own rate (PruningHparams)


@dataclass(frozen=True)
class ModelSpec:
    """A network as the library sees it: `layers` = (name, group) of each prunable weight layer in forward
    order, the `input_shape` (channels, height, width) of one image and `num_classes`."""

    name: str
    layers: tuple[tuple[str, str], ...]
    input_shape: tuple[int, int, int]
    num_classes: int = 10

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.layers)

    def group(self, layer: str) -> str:
        return dict(self.layers)[layer]

    def rates(self, pruning: PruningHparams) -> dict[str, float]:
        """Each prunable layer's per-round pruning rate: its group's rate in `pruning`."""
        return {name: pruning.rate(group) for name, group in self.layers}


def spec(name: str) -> ModelSpec:
    """The declaration of model `name`; UserError naming the choices if unknown."""
    from lottery.models.network import network_class

    return network_class(name).SPEC


def check(name: str) -> None:
    """UserError naming the choices unless `name` is a registered model."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
