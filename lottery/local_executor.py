"""The local executor: trials one after another in this process, sharing one copy of the dataset on the
training device."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable

from lottery import tracking
from lottery.data.dataset import Dataset
from lottery.errors import UserError
from lottery.trial_task import TrialOutcome, TrialTask, failure


def run_locally(
    tasks: Iterable[TrialTask],
    dataset: Dataset,
    client,
    say: Callable[[str], None],
    show_progress: bool,
    done: Callable[[str], None],
) -> list[TrialOutcome]:
    """Run every task, taken from `tasks` only when the previous one ended, and call `done(run_id)` after
    each. A task that fails is reported and the next one still runs; Ctrl-C, or a tracking store that
    stopped answering, stops them all."""
    outcomes = []
    for task in tasks:
        try:
            outcomes.append(TrialOutcome(task, verdict=task.run(dataset, client, say, show_progress)))
        except Exception as error:
            if not isinstance(error, UserError):
                lost = tracking.store_lost(client, error)
                if lost is not None:
                    raise lost from None
                say(traceback.format_exc().rstrip())  # a bug or a crash: keep its traceback for the report
            outcomes.append(failure(task, error))
            say(f"{task.label} failed: {outcomes[-1].error}")
        finally:
            done(task.run_id)
    return outcomes
