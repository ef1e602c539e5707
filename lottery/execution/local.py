"""The local executor: trials one after another in this process, sharing one copy of the dataset on the
training device (moved there when the first trial starts)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence

from lottery.data.datamodule import on_device
from lottery.data.dataset import Dataset
from lottery.errors import UserError
from lottery.execution.trial import TrialOutcome, TrialTask, failure
from lottery.execution.trial_hooks import TrialHook
from lottery.tracking import store
from lottery.training.device import training_device


class LocalExecutor:
    """An `Executor`: each task in this process, in order, with `hooks`; `say` prints, `show_progress` shows
    bars (else `say` says a line per epoch)."""

    def __init__(
        self,
        dataset: Dataset,
        client,
        say: Callable[[str], None],
        show_progress: bool,
        hooks: Sequence[TrialHook] = (),
    ) -> None:
        self.dataset, self.client, self.say, self.show_progress = dataset, client, say, show_progress
        self.hooks = tuple(hooks)
        self._on_device: Dataset | None = None

    def run(self, tasks: Iterable[TrialTask], done: Callable[[str], None]) -> list[TrialOutcome]:
        """Run every task, taken from `tasks` only when the previous one ended. A task that fails is
        reported and the next one still runs; Ctrl-C, or a tracking store that stopped answering, stops them
        all."""
        outcomes = []
        for task in tasks:
            try:
                dataset = self._dataset()
                verdict = task.run(dataset, self.client, self.say, self.show_progress, hooks=self.hooks)
                outcomes.append(TrialOutcome(task, verdict=verdict))
            except Exception as error:
                if not isinstance(error, UserError):
                    store.raise_if_lost(self.client, error)
                    self.say(traceback.format_exc().rstrip())  # a bug or a crash: keep its traceback
                outcomes.append(failure(task, error))
                self.say(f"{task.label} failed: {outcomes[-1].error}")
            done(task.run_id)  # not on Ctrl-C or a lost store: the driver abandons the runs it still holds
        return outcomes

    def _dataset(self) -> Dataset:
        if self._on_device is None:
            self._on_device = on_device(self.dataset, training_device())
            self.say(
                f"{self.dataset.name}: trials one after another on {self._on_device.train.images.device}"
            )
        return self._on_device
