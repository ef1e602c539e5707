"""The prunable layers of any LightningModule: which weights IMP prunes, in which order, at which rate.

By default IMP prunes the weight of every convolution (`nn.Conv1d`, `Conv2d`, `Conv3d`) and linear layer
(`nn.Linear`) that the training forward uses, in the order it first uses them (read once, through forward
pre-hooks removed after the first step); biases are never pruned. Each layer belongs to a group whose rate
it takes unless it has its own (Frankle & Carbin): convolutions `conv`, linear layers `dense`, the last
linear layer `output`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from lottery.errors import UserError
from lottery.hparams import PAPER_RATES, RATE_GROUPS

KINDS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

Rates = float | Mapping[str, float] | None


def find(module: nn.Module, names: Sequence[str] | None) -> dict[str, nn.Module]:
    """The layers `names` picks from `module` (None: every convolution and linear layer), by name, in the
    order given or registered. UserError for a model without one, or a name that is no such layer."""
    found = {
        name: layer
        for name, layer in module.named_modules()
        if isinstance(layer, KINDS) and isinstance(getattr(layer, "weight", None), nn.Parameter)
    }
    kind = type(module).__name__
    if not found:
        raise UserError(
            f"no prunable layer found in {kind}: IMP prunes the weights of Conv1d/2d/3d and Linear layers, "
            "and the model has none"
        )
    if names is None:
        return found
    unknown = [name for name in names if name not in found]
    if unknown or len(set(names)) != len(names) or not names:
        raise UserError(
            f"layers={list(names)} must name distinct Conv1d/2d/3d or Linear layers of {kind}; "
            f"{', '.join(unknown) or 'repeated or empty'} is not one (its layers: {', '.join(found)})"
        )
    return {name: found[name] for name in names}


class ForwardOrder:
    """Records the order in which a forward first calls `layers`; `order()` ends the recording."""

    def __init__(self, layers: Mapping[str, nn.Module]) -> None:
        self._seen: list[str] = []
        self._handles = [layer.register_forward_pre_hook(self._hook(name)) for name, layer in layers.items()]

    def _hook(self, name: str):
        def seen(layer, inputs) -> None:
            if name not in self._seen:
                self._seen.append(name)

        return seen

    def order(self) -> tuple[str, ...]:
        """The layers called so far, in the order of their first call; the hooks are removed."""
        for handle in self._handles:
            handle.remove()
        if not self._seen:
            raise UserError(
                "the training forward used none of the prunable layers; name those to prune: layers=[…]"
            )
        return tuple(self._seen)


def groups(layers: Mapping[str, nn.Module]) -> dict[str, str]:
    """Each layer's group: `conv` for a convolution, `dense` for a linear layer, `output` for the last one."""
    grouped = {
        name: "conv" if not isinstance(layer, nn.Linear) else "dense" for name, layer in layers.items()
    }
    linear = [name for name, group in grouped.items() if group == "dense"]
    if linear:
        grouped[linear[-1]] = "output"
    return grouped


def check_rates(rates: Rates) -> None:
    """UserError unless every rate lies in [0, 1) (a rate of 1 would prune a layer away in one round)."""
    values = [rates] if not isinstance(rates, Mapping) else list(rates.values())
    bad = [v for v in values if v is not None and not (isinstance(v, int | float) and 0 <= v < 1)]
    if bad:
        raise UserError(f"pruning rates must lie in [0, 1), got {bad[0]!r}; e.g. rates=0.2")


def group_rates(rates: Rates) -> dict[str, float]:
    """The rate of each group (`RATE_GROUPS`): `rates` as one float for all, or a mapping's group keys, else
    Frankle & Carbin's (`lottery.hparams.PAPER_RATES`)."""
    if isinstance(rates, int | float):
        return dict.fromkeys(RATE_GROUPS, float(rates))
    given = dict(rates or {})
    return {group: float(given.get(group, PAPER_RATES[group])) for group in RATE_GROUPS}


def layer_rates(rates: Rates, grouped: Mapping[str, str]) -> dict[str, float]:
    """Each layer's per-round rate: its own when `rates` names it, else its group's. UserError for a key of
    `rates` that is neither a group nor a prunable layer."""
    given = dict(rates) if isinstance(rates, Mapping) else {}
    unknown = [key for key in given if key not in RATE_GROUPS and key not in grouped]
    if unknown:
        raise UserError(
            f"rates names {', '.join(unknown)}, neither a group ({', '.join(RATE_GROUPS)}) nor a prunable "
            f"layer ({', '.join(grouped)})"
        )
    by_group = group_rates(rates)
    return {name: float(given.get(name, by_group[group])) for name, group in grouped.items()}


def described_rates(
    per_layer: Mapping[str, float], grouped: Mapping[str, str], rates: Rates
) -> dict[str, str]:
    """The `conv_rate`, `dense_rate`, `output_rate` params: the group's rate when its layers share it, else
    each layer's (`features.0=0.1,features.3=0.2`)."""
    described = {}
    for group, rate in group_rates(rates).items():
        members = {name: per_layer[name] for name, g in grouped.items() if g == group}
        if len(set(members.values())) > 1:
            described[f"{group}_rate"] = ",".join(f"{name}={value:g}" for name, value in members.items())
        else:
            described[f"{group}_rate"] = str(next(iter(members.values()), rate))
    return described
