"""Restarting a network's training as if from scratch, the way IMP starts each round: prunable weights set
to w ⊙ m, everything else (biases, normalisation parameters and statistics) to its value at fit start, the
optimizers' state cleared and their hyperparameters and learning-rate schedules set back to where the fit
started them.

With the optimizer state cleared a pruned weight has zero moments; its gradient is masked to zero before
every step, so its update is zero and it stays exactly zero — no forward hooks, no re-masking per step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytorch_lightning as pl
import torch
from torch import nn

from lottery.errors import UserError


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of `module`, by state-dict key, copied to the CPU."""
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}


def prunable_weights(module: nn.Module, shapes: Mapping[str, torch.Size]) -> dict[str, nn.Parameter]:
    """The weight of each layer `shapes` names; UserError if one is gone or no longer has its shape."""
    found = {}
    for name, shape in shapes.items():
        weight = getattr(module.get_submodule(name), "weight", None) if _has(module, name) else None
        if weight is None or weight.shape != shape:
            now = "is gone" if weight is None else f"is {tuple(weight.shape)}"
            raise UserError(
                f"the weight of layer {name} was {tuple(shape)} when IMP took θ0 and {now} now: IMP needs "
                "weights of fixed shape (materialise lazy layers before fit)"
            )
        found[name] = weight
    return found


def _has(module: nn.Module, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return False
    return True


@torch.no_grad()
def set_weights(
    module: nn.Module,
    weights: Mapping[str, nn.Parameter],
    values: Mapping[str, torch.Tensor],
    mask: Mapping[str, torch.Tensor],
    rest: Mapping[str, torch.Tensor],
) -> None:
    """Prunable `weights` ← `values` ⊙ `mask`; every other parameter and buffer of `module` ← `rest`."""
    for name, weight in weights.items():
        weight.copy_(values[name].to(weight.device) * mask[name].to(weight.device))
    current = module.state_dict(keep_vars=True)
    for key, value in rest.items():
        current[key].copy_(value)


def optimizer_start(trainer: pl.Trainer) -> dict:
    """The optimizers' hyperparameters (each param group's but its parameters) and their schedulers' state,
    as the fit starts them: what `restart_optimizers` sets back."""
    return {
        "groups": [
            [
                {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
                for group in optimizer.param_groups
            ]
            for optimizer in trainer.optimizers
        ],
        "schedulers": [
            copy.deepcopy(config.scheduler.state_dict()) for config in trainer.lr_scheduler_configs
        ],
    }


def restart_optimizers(trainer: pl.Trainer, start: dict) -> None:
    """Clear every optimizer's state (Adam's moments and step counts) and set its hyperparameters and its
    learning-rate schedule back to `start` (from `optimizer_start`)."""
    for optimizer, groups in zip(trainer.optimizers, start["groups"], strict=True):
        optimizer.state.clear()
        for group, hyperparameters in zip(optimizer.param_groups, groups, strict=True):
            group.update(copy.deepcopy(hyperparameters))
    for config, state in zip(trainer.lr_scheduler_configs, start["schedulers"], strict=True):
        config.scheduler.load_state_dict(copy.deepcopy(state))
