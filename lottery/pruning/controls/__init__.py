"""The controls: masks derived from a trial's final ticket and trained like it, one round's epochs from the
same θ0, to compare the ticket against. Each control is a module here that defines `CONTROL` (a `Control`),
registered in `CONTROLS`; the random ticket is the first. A trial runs every registered control, in registry
order, after its last round.

Importing a control loads no torch (the tracking contract takes the random ticket's artifact from its
declaration, and the analysis and the CLI read the contract without torch): `lottery.seeds` and
`lottery.pruning.mask` are imported where a mask is drawn.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask

# control name -> module under lottery.pruning.controls defining CONTROL; the order in which a trial runs them
CONTROLS: dict[str, str] = {
    "random_ticket": "lottery.pruning.controls.random_ticket",
}

# (final ticket's mask, θ0, a Generator seeded for this control and trial) -> the control's mask
DeriveMask = Callable[["Mask", Mapping[str, "torch.Tensor"], np.random.Generator], "Mask"]


def name_stream(name: str, purpose: str) -> int:
    """A stream number that depends only on a control's name and the stream's `purpose`: 32 bits of a digest
    with the top bit set, so it never meets the foundations' small stream numbers (`seeds`)."""
    digest = hashlib.sha256(f"lottery.control/{name}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") | 1 << 31


@dataclass(frozen=True)
class Control:
    """A control as a trial runs it: its mask is `derive(final mask, θ0, rng)`, trained for one round's epochs
    from θ0 on its own batch order, logged as the `.npz` `artifact`, then its test accuracy and loss as the
    metrics `acc_metric` and `loss_metric` at step R. `title` names it in summary lines and errors.

    Its random streams (mask, batches) derive from its `name`, so adding a control shifts no other's;
    `legacy_streams` returns them instead for a control whose stores predate the registry (the random
    ticket), so that they resume and reproduce bit for bit."""

    name: str
    title: str
    derive: DeriveMask
    artifact: str
    acc_metric: str
    loss_metric: str
    legacy_streams: Callable[[], tuple[int, int]] | None = None

    @property
    def metrics(self) -> tuple[str, str]:
        return self.acc_metric, self.loss_metric

    @property
    def streams(self) -> tuple[int, int]:
        """The stream numbers of its mask and of its batch order, after (seed, trial) in their entropy."""
        if self.legacy_streams is not None:
            return self.legacy_streams()
        return name_stream(self.name, "mask"), name_stream(self.name, "batches")

    def mask(self, final_mask: Mask, theta0: Mapping[str, torch.Tensor], seed: int, trial: int) -> Mask:
        """The control's mask for trial `trial` of a configuration seeded `seed`."""
        from lottery import seeds

        return self.derive(final_mask, theta0, seeds.numpy_rng(seed, trial, self.streams[0]))

    def batches_entropy(self, seed: int, trial: int) -> tuple[int, ...]:
        """What seeds the order of the control's training batches in trial `trial`."""
        return seed, trial, self.streams[1]


def control(name: str) -> Control:
    """The declaration of registered control `name`."""
    declared = importlib.import_module(CONTROLS[name]).CONTROL
    if declared.name != name:
        raise ValueError(f"{CONTROLS[name]} declares control {declared.name!r}, registered as {name!r}")
    return declared


def registered() -> tuple[Control, ...]:
    """Every registered control in registry order — the controls every trial runs (no hyperparameter chooses
    them yet: one would change a configuration's params and the digest of existing stores). ValueError when
    two of them share a stream, an artifact or a metric, or a stream is one of the foundations'."""
    from lottery import seeds

    declared = tuple(control(name) for name in CONTROLS)
    for kind, values in (
        ("stream", [seeds.INIT_STREAM, seeds.IMP_BATCHES_STREAM, *(s for c in declared for s in c.streams)]),
        ("artifact", [c.artifact for c in declared]),
        ("metric", [m for c in declared for m in c.metrics]),
    ):
        if len(set(values)) != len(values):
            raise ValueError(f"the controls {', '.join(CONTROLS)} share a {kind}")
    return declared
