"""Training a trial as an executor does, with Lightning callbacks of a test's own in every fit of it and
trial hooks of its own: the public seams (`TrialTask.run(..., callbacks, hooks)`) through which tests watch
training, instead of patching it."""

from __future__ import annotations

from lottery.execution.scheduler import Scheduler
from lottery.hparams import ExperimentConfig
from lottery.tracking import store
from lottery.tracking.lease import Leases


def train_trial(
    uri: str, config: ExperimentConfig, dataset, callbacks=(), index: int = 0, hooks=(), say=None
):
    """Take trial `index` of `config` up in the store at `uri` and train it on `dataset` (on the CPU) with
    `callbacks` and `hooks`, its lines to `say` (None: nowhere); return its verdict."""
    say = say or (lambda line: None)
    client = store.connect(uri)
    with Leases(client) as leases:
        task = Scheduler(client, config, dataset, leases, say=say).take(index)
        return task.run(dataset, client, say, False, callbacks, hooks)
