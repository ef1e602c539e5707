"""The executor interface: what runs trial tasks, here or on a cluster, and how one is chosen."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from lottery.data.dataset import Dataset
from lottery.execution.ray_settings import RaySettings
from lottery.execution.trial import TrialOutcome, TrialTask
from lottery.execution.trial_hooks import TrialHook


class Executor(Protocol):
    """Runs trial tasks and returns their outcomes.

    `run` takes each task from `tasks` only when it is about to start it (claiming a task is what taking it
    from the iterable does), and calls `done(run_id)` once a task has an outcome; a task interrupted by
    what `run` raises keeps its lease, so that the driver marks its run KILLED or FAILED.
    A task that fails is an outcome with its error; Ctrl-C, a lost tracking store or a failure of the
    executor itself raise. Every task runs with the executor's `TrialHook`s, wherever it trains.
    """

    def run(self, tasks: Iterable[TrialTask], done: Callable[[str], None]) -> list[TrialOutcome]: ...


def executor_for(
    ray: RaySettings | None,
    dataset: Dataset,
    client,
    say: Callable[[str], None],
    show_progress: bool,
    hooks: Sequence[TrialHook] = (),
) -> Executor:
    """The local executor (`ray` None), or the Ray executor with `ray`'s settings (Ray loads only then),
    running every task with `hooks`."""
    if ray is None:
        from lottery.execution.local import LocalExecutor

        return LocalExecutor(dataset, client, say, show_progress, hooks)
    from lottery.execution.ray_executor import RayExecutor

    return RayExecutor(ray, dataset, client, say, show_progress, hooks)
