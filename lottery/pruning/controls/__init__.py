"""The controls: tickets derived from a trial's final ticket and trained like it, one round's epochs, to
compare the ticket against. A control changes the mask (the random ticket) or the initial weights under the
winning mask (re-initialised, signs kept, signs flipped). Each control is a module here that defines
`CONTROL` (a `Control`), registered in `CONTROLS`; a trial runs those the user selects (`--controls`), in
registry order, after its last round.

A control declares its name and what its artifact records; the names it logs are built from them by the
tracking contract (`contract.control_artifact`, `contract.control_metric`), which holds the naming scheme
that the analysis reads. Importing a control loads no torch (the CLI and the analysis list the controls
without it): `lottery.pruning.mask` is imported where a control is drawn.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lottery import seeds
from lottery.tracking import contract

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask

# control name -> module under lottery.pruning.controls defining CONTROL; the order in which a trial runs them
CONTROLS: dict[str, str] = {
    "random": "lottery.pruning.controls.random_ticket",
    "reinit": "lottery.pruning.controls.reinit",
    "signs": "lottery.pruning.controls.signs",
    "flipped": "lottery.pruning.controls.flipped",
}


@dataclass(frozen=True)
class Start:
    """Where a control's training starts: its `mask` and its initial `weights` (each layer's, unmasked)."""

    mask: Mask
    weights: Mapping[str, torch.Tensor]


# (final ticket's mask, the ticket's start weights θ0 or θ_k, a Generator seeded for this control and
# trial) -> where the control starts
Derive = Callable[["Mask", Mapping[str, "torch.Tensor"], np.random.Generator], Start]


@dataclass(frozen=True)
class Control:
    """A control as a trial runs it: it starts from `derive(final mask, start weights, rng)`, trains for one
    round's epochs on its own batch order, logs what it changed as the `.npz` `artifact` — its mask
    (`records="mask"`, at `contract.control_artifact(name, contract.CONTROL_MASK)`) or its initial weights
    (`records="weights"`, at `contract.control_artifact(name, contract.CONTROL_INIT)`) — then its test
    accuracy and loss as the metrics `<name>_test_acc` and `<name>_test_loss` (`contract.control_metric`) at
    step R. `title` names it in summary lines and errors.

    Its random streams (its draws, its batches) derive from its `name`, so adding a control shifts no
    other's; `legacy_streams` returns them instead for a control whose stores predate the registry (the
    random ticket), so that they resume and reproduce bit for bit."""

    name: str
    title: str
    derive: Derive
    records: str = "weights"
    legacy_streams: Callable[[], tuple[int, int]] | None = None

    @property
    def artifact(self) -> str:
        holds = contract.CONTROL_MASK if self.records == "mask" else contract.CONTROL_INIT
        return contract.control_artifact(self.name, holds)

    @property
    def acc_metric(self) -> str:
        return contract.control_metric(self.name, contract.TEST_ACC)

    @property
    def loss_metric(self) -> str:
        return contract.control_metric(self.name, contract.TEST_LOSS)

    @property
    def metrics(self) -> tuple[str, str]:
        return self.acc_metric, self.loss_metric

    @property
    def streams(self) -> tuple[int, int]:
        """The stream numbers of its draws and of its batch order, after (seed, trial) in their entropy."""
        if self.legacy_streams is not None:
            return self.legacy_streams()
        return seeds.name_stream(self.name, "draws"), seeds.name_stream(self.name, "batches")

    def start(self, final_mask: Mask, weights: Mapping[str, torch.Tensor], seed: int, trial: int) -> Start:
        """Where the control starts in trial `trial` of a configuration seeded `seed`, from the final ticket's
        mask and its start `weights` (θ0, or θ_k under late rewinding)."""
        return self.derive(final_mask, weights, seeds.numpy_rng(seed, trial, self.streams[0]))

    def recorded(self, start: Start) -> dict[str, np.ndarray]:
        """What its artifact holds: the mask (bool) or the initial weights (float32) of `start`."""
        from lottery.pruning import mask as masks

        if self.records == "mask":
            return masks.to_numpy(start.mask)
        return {name: w.cpu().numpy().astype(np.float32) for name, w in start.weights.items()}

    def batches_entropy(self, seed: int, trial: int) -> tuple[int, ...]:
        """What seeds the order of the control's training batches in trial `trial`."""
        return seed, trial, self.streams[1]


def control(name: str) -> Control:
    """The declaration of registered control `name`."""
    declared = importlib.import_module(CONTROLS[name]).CONTROL
    if declared.name != name:
        raise ValueError(f"{CONTROLS[name]} declares control {declared.name!r}, registered as {name!r}")
    return declared


def selected(names: str) -> tuple[Control, ...]:
    """The controls a comma-separated list names (`--controls`), in registry order; UserError naming the
    choices for an unknown or empty list. Which controls run is no hyperparameter of the ticket: it
    stays out of the configuration's digest, and a re-run with more controls adds them to finished runs."""
    from lottery.errors import UserError

    wanted = {name.strip() for name in names.split(",") if name.strip()}
    unknown = sorted(wanted - set(CONTROLS))
    if unknown or not wanted:
        raise UserError(
            f"unknown control(s) {', '.join(unknown) or repr(names)}: CONTROLS takes a comma-separated list "
            f"of {', '.join(CONTROLS)}"
        )
    return tuple(c for c in registered() if c.name in wanted)


def redrawn(weights: Mapping[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Fresh weights of the same shapes from θ0's distribution, Glorot-normal
    (`lottery.models.network.glorot_std`), drawn from `rng` layer by layer in order, float32."""
    import torch

    from lottery.models.network import glorot_std

    fresh = {}
    for name, weight in weights.items():
        draw = rng.standard_normal(tuple(weight.shape)).astype(np.float32) * np.float32(
            glorot_std(weight.shape)
        )
        fresh[name] = torch.from_numpy(draw).to(weight.device)
    return fresh


def registered() -> tuple[Control, ...]:
    """Every registered control in registry order. ValueError when two of them share a stream, or a stream
    is one of the foundations' (their artifacts and metrics are built from their names, which differ)."""
    declared = tuple(control(name) for name in CONTROLS)
    streams = [seeds.INIT_STREAM, seeds.IMP_BATCHES_STREAM, *(s for c in declared for s in c.streams)]
    if len(set(streams)) != len(streams):
        raise ValueError(f"the controls {', '.join(CONTROLS)} share a stream")
    return declared
