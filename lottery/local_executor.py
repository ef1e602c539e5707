"""The local executor: trials one after another in this process, sharing one copy of the dataset on the
training device."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence

from lottery.data.dataset import Dataset
from lottery.errors import UserError
from lottery.trial_task import TrialOutcome, TrialTask, failure


def run_locally(
    tasks: Sequence[TrialTask],
    dataset: Dataset,
    client,
    say: Callable[[str], None],
    show_progress: bool,
) -> list[TrialOutcome]:
    """Run every task; a task that fails is reported and the next one still runs. Ctrl-C stops them all."""
    outcomes = []
    for task in tasks:
        try:
            outcomes.append(TrialOutcome(task, winning=task.run(dataset, client, say, show_progress)))
        except Exception as error:
            if not isinstance(error, UserError):  # a bug or a crash: keep its traceback for the report
                say(traceback.format_exc().rstrip())
            outcomes.append(failure(task, error))
            say(f"{task.label} failed: {outcomes[-1].error}")
    return outcomes
