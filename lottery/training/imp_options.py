"""What an `IterativeMagnitudePruning` is asked to do, checked once: its rounds, epochs, rates, layers,
rewind step, the metrics it monitors, what the analysis groups its runs by, and its controls. Defaults live
in `lottery.hparams` (the callback's signature takes them from there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from lottery.errors import UserError
from lottery.hparams import MAX_ROUNDS
from lottery.pruning import controls as registry
from lottery.training import prunable_layers


@dataclass(frozen=True)
class Options:
    """Rounds 0..`rounds` of `epochs_per_round` epochs, then `controls`, each one round's epochs. `rates`:
    a float for every layer, or group / layer name → rate in [0, 1) (None: Frankle & Carbin's); `layers`:
    the layers to prune in forward order (None: found), named within the submodule `network` (None: the
    LightningModule itself); θ_k after `rewind_step` optimizer steps (0: θ0).
    A round's accuracy is the metric `monitor`, its loss `loss_monitor` (None: none). `dataset` (None: the
    datamodule's class name), `trial` and `seed` (of the controls) are what the tracking contract and the
    analysis group by; a ticket wins within `winning_tolerance` points of the dense network's accuracy."""

    rounds: int
    epochs_per_round: int
    rates: prunable_layers.Rates
    layers: tuple[str, ...] | None
    network: str | None
    rewind_step: int
    monitor: str
    loss_monitor: str | None
    dataset: str | None
    trial: int
    seed: int
    controls: tuple[registry.Control, ...]
    winning_tolerance: float

    def __post_init__(self) -> None:
        """UserError, one line, for a value out of bounds."""
        counts = [
            ("rounds", self.rounds, 0, MAX_ROUNDS),
            ("epochs_per_round", self.epochs_per_round, 1, None),
            ("rewind_step", self.rewind_step, 0, None),
            ("trial", self.trial, 0, None),
            ("seed", self.seed, 0, None),
        ]
        for name, value, low, high in counts:
            if not isinstance(value, int) or value < low or (high is not None and value > high):
                bound = f"from {low} to {high}" if high is not None else f">= {low}"
                raise UserError(f"{name} must be an integer {bound}, got {value!r}")
        if not isinstance(self.winning_tolerance, int | float) or not self.winning_tolerance >= 0:
            raise UserError(
                f"winning_tolerance must be a number of points >= 0, got {self.winning_tolerance!r}"
            )
        prunable_layers.check_rates(self.rates)

    @staticmethod
    def selected_controls(controls: str | tuple[str, ...] | list[str]) -> tuple[registry.Control, ...]:
        """The controls `controls` names (a comma-separated string or names; empty: none)."""
        names = controls if isinstance(controls, str) else ",".join(controls)
        return registry.selected(names) if names.strip() else ()

    def root(self, module: nn.Module) -> nn.Module:
        """The network whose layers are pruned: the submodule `network` of `module`, else `module`."""
        if self.network is None:
            return module
        try:
            return module.get_submodule(self.network)
        except AttributeError:
            raise UserError(
                f"network={self.network!r} names no submodule of {type(module).__name__}"
            ) from None

    def key(self, layer: str) -> str:
        """The state-dict key of a prunable layer's weight in the LightningModule."""
        return f"{self.network}.{layer}.weight" if self.network else f"{layer}.weight"

    @property
    def phases(self) -> int:
        """Round 0, the pruning rounds, the controls."""
        return self.rounds + 1 + len(self.controls)

    def label(self, phase: int) -> str:
        """How errors and lines name `phase`: `round 3`, `the random ticket`."""
        if phase <= self.rounds:
            return f"round {phase}"
        return f"the {self.controls[phase - self.rounds - 1].title}"

    def compared(self) -> dict:
        """What a checkpoint's protocol must share with the callback that resumes it."""
        return {
            "rounds": self.rounds,
            "epochs_per_round": self.epochs_per_round,
            "rates": dict(self.rates) if isinstance(self.rates, Mapping) else self.rates,
            "layers": None if self.layers is None else list(self.layers),
            "network": self.network,
            "rewind_step": self.rewind_step,
            "monitor": self.monitor,
            "loss_monitor": self.loss_monitor,
            "trial": self.trial,
            "seed": self.seed,
            "controls": [c.name for c in self.controls],
        }

    def differences(self, saved: dict) -> list[str]:
        """How these options differ from a checkpoint's (`saved`, from `compared`), one `name=value` each."""
        ours = self.compared()
        return [f"{k}={v!r} (checkpoint: {saved[k]!r})" for k, v in ours.items() if saved[k] != v]
