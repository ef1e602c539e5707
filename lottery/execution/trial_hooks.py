"""The public seam of a trial's phases: hooks that `run_experiment` hands to every trial it trains.

A `TrialHook` is told when a round is recorded and when each control starts and ends, in the process that
trains the trial (a Ray worker under `EXECUTOR=ray`: hooks travel there pickled, so a hook's class must be
importable there, or registered with `ray.cloudpickle.register_pickle_by_value`). A hook may observe (the
rounds a resumed trial trains, the controls it runs) or inject a fault: whatever it raises stops the trial
as the same error raised by its training would — Ctrl-C (`KeyboardInterrupt`) ends the run KILLED, any other
error FAILED, a lost store stops the driver.

Each method is a no-op here; a hook overrides those it needs. `trial` is the trial's 0-based index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lottery.pruning.controls import Control
    from lottery.training.tickets import RoundResult


class TrialHook:
    """Told of a trial's phases, in order: each round's end, then each control's start and end."""

    def round_end(self, trial: int, result: RoundResult) -> None:
        """Round `result.round` is recorded in the run (its metrics logged: it is complete)."""

    def control_start(self, trial: int, control: Control) -> None:
        """`control` is about to train (a control whose metrics are logged already is not started)."""

    def control_end(self, trial: int, control: Control) -> None:
        """`control` is recorded in the run (its metrics logged: it is done)."""


class TrialHooks:
    """Several hooks told in the order given: the trial's view of the seam."""

    def __init__(self, hooks: Sequence[TrialHook] = ()) -> None:
        self.hooks = tuple(hooks)

    def round_end(self, trial: int, result: RoundResult) -> None:
        for hook in self.hooks:
            hook.round_end(trial, result)

    def control_start(self, trial: int, control: Control) -> None:
        for hook in self.hooks:
            hook.control_start(trial, control)

    def control_end(self, trial: int, control: Control) -> None:
        for hook in self.hooks:
            hook.control_end(trial, control)
