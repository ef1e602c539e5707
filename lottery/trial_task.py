"""A trial task: trial k of a configuration bound to its MLflow run — the unit every executor runs.

The driver creates (or finds) the run before any training, so an executor only ever resumes a run: a task
run twice (a retry after a worker died, a re-run after Ctrl-C) continues from the run's last complete
round and never opens a second run for the same trial.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from lottery.data.dataset import Dataset
from lottery.errors import UserError
from lottery.hparams import ExperimentConfig
from lottery.lease import LeaseLost
from lottery.tracking import first_line
from lottery.trial import Trial
from lottery.trial_record import TrialRecord
from lottery.verdict import Verdict


@dataclass(frozen=True)
class TrialTask:
    config: ExperimentConfig
    index: int
    run_id: str
    generation: int | None = None  # the driver's lease on the run (`lottery.lease`); None: unchecked

    @property
    def label(self) -> str:
        return f"{self.config.dataset} trial {self.index + 1}/{self.config.trials}"

    def run(self, dataset: Dataset, client, say: Callable[[str], None], show_progress: bool) -> bool:
        """Train what the run is missing on `dataset` (already on the training device) and finish the run;
        return the verdict on its final ticket. The run ends KILLED on Ctrl-C and FAILED on an error."""
        record = TrialRecord.open(client, self.run_id, self.generation)
        completed = record.completed_rounds()
        where = f"in {record.name} on {dataset.train.images.device}"
        say(
            f"{self.label}: resuming {where} after {completed} completed rounds"
            if completed
            else f"{self.label}: training {where}"
        )
        record.reopen()
        try:
            return Trial(self.config, self.index, dataset, record, say, show_progress).run()
        except LeaseLost:
            raise  # the run is another driver's now: leave its status alone
        except BaseException as error:
            abort_quietly(record, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise


def abort_quietly(record: TrialRecord, status: str) -> None:
    """Mark the run `status`, unless the store itself is what failed: the error that stopped the trial is
    the one to report, and the re-run resumes the run whatever its status."""
    with contextlib.suppress(Exception):
        record.abort(status)


@dataclass(frozen=True)
class TrialOutcome:
    """How a task ended: its `verdict` when it finished, else the `error` (one line) that stopped it."""

    task: TrialTask
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def winning(self) -> bool:
        return self.verdict is not None and self.verdict.winning


def failure(task: TrialTask, error: BaseException) -> TrialOutcome:
    """The outcome of a task stopped by `error`: a user error by its message, anything else with its type."""
    line = first_line(error)
    if not isinstance(error, UserError):
        line = f"{type(error).__name__}: {line}"
    return TrialOutcome(task, error=line)
