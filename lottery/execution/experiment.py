"""An experiment: `trials` IMP trials of one configuration on one dataset, each in its own MLflow run.

Idempotent: finished trials are skipped, unfinished ones resume in their run. A driver takes a trial up
only under a lease (`lottery.lease`, see `lottery.execution.scheduler`) and hands it to the executor
(`lottery.execution.executor`). Trials held by another driver are left to it; once its own trials are
done, a driver waits for those, taking over any whose lease expires (that driver died). So several drivers may
share one configuration, each trial is trained by exactly one of them, and every command ends when the
configuration's trials are all done. A trial interrupted by Ctrl-C ends KILLED, one that crashed FAILED;
neither is ever marked FINISHED.
What it prints: `lottery.execution.output`. Importing this module is light: torch, Lightning, MLflow and
Ray load inside `run_experiment`, once the settings are checked, so a refused setup fails in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lottery.data import registry
from lottery.execution.output import print_line, progress_bars
from lottery.execution.ray_settings import RaySettings
from lottery.hparams import ExperimentConfig
from lottery.tracking import uris

if TYPE_CHECKING:
    from lottery.execution.executor import Executor
    from lottery.execution.scheduler import Scheduler
    from lottery.execution.trial import TrialOutcome
    from lottery.execution.trial_hooks import TrialHook


def run_experiment(
    config: ExperimentConfig,
    data_dir: str,
    tracking_uri: str | None = None,
    ray: RaySettings | None = None,
    say: Callable[[str], None] = print_line,
    show_progress: bool | None = None,
    hooks: Sequence[TrialHook] = (),
) -> list[TrialOutcome]:
    """Train every unfinished trial, here (`ray` None) or as Ray tasks, sharing the work with any other
    driver of the same configuration; return the outcomes of the trials this driver trained. Progress bars
    when `show_progress`, or (None) when stdout is a terminal; else a line per epoch.

    `hooks` (`lottery.execution.trial_hooks.TrialHook`) are told of every trial's phases — each round's end,
    each control's start and end — where the trial trains (here, or pickled to its Ray worker); what a hook
    raises stops the trial as the same error from training would. The seam through which tests observe
    trials and inject faults (an interruption, a lost store) without patching the trial's methods.

    The first line said is the configuration and the store; then a warning for each value that would likely
    waste the run (`ExperimentConfig.doubts`). A SQLite store whose folder does not exist is refused
    (`uris.check_store_folder`): a mistyped path would otherwise start a new store unnoticed. So is a DATA_DIR
    the dataset's folder cannot be made in (`registry.data_folder`), before the store is opened."""
    show_progress = progress_bars(show_progress)
    uri = uris.resolve_tracking_uri(tracking_uri)
    say(f"{config.describe()} · {'executor ray · ' if ray else ''}store {_store(uri)}")
    for doubt in config.doubts():
        say(f"warning: {doubt}")
    uris.check_store_folder(uri)
    registry.data_folder(config.dataset, data_dir)  # a DATA_DIR the dataset cannot use fails in seconds too
    if ray is not None:
        ray.check_reachable(uri)  # before anything slow: a cluster nothing answers at fails in seconds
    from lottery.execution.executor import executor_for
    from lottery.execution.scheduler import Scheduler
    from lottery.pruning.controls import selected
    from lottery.tracking import store
    from lottery.tracking.lease import Leases

    selected(config.controls)  # an unknown control fails before anything trains

    client = store.connect(uri)
    dataset = registry.load_dataset(config.dataset, data_dir, config.train_splits)
    for doubt in config.batch_doubts(len(dataset.train)):
        say(f"warning: {doubt}")
    say(
        f"{config.dataset}: {len(dataset.train)} train / {len(dataset.test)} test images, "
        f"config {config.config_id()}"
    )
    with Leases(client) as leases:
        scheduler = Scheduler(client, config, dataset, leases, say)
        try:
            return _run_all(scheduler, executor_for(ray, dataset, client, say, show_progress, hooks), say)
        except BaseException as error:  # Ctrl-C, a lost store, or the executor itself failed
            scheduler.end_held(error)
            if isinstance(error, Exception):
                store.raise_if_lost(client, error)
            raise


def _store(uri: str) -> str:
    """The store as the configuration line names it: a SQLite file not created yet is a new store."""
    db = uris.sqlite_file(uri)
    return f"{uri} (new)" if db is not None and not db.exists() else uri


def _run_all(scheduler: Scheduler, executor: Executor, say: Callable[[str], None]) -> list[TrialOutcome]:
    """Rounds of taking up and running trials until none is left to this driver or to another one."""
    from lottery.execution.scheduler import HeldElsewhere
    from lottery.execution.trial import label

    config = scheduler.config
    pending, outcomes, announced = list(range(config.trials)), [], set()
    while pending:
        held: list[HeldElsewhere] = []
        outcomes += executor.run(scheduler.take_up(pending, held), scheduler.leases.release)
        pending = [h.index for h in held]
        for h in held:
            if h.index not in announced:
                announced.add(h.index)
                say(f"{label(config, h.index)}: being trained by {h.lease.describe()}; waiting for it")
        if pending:
            time.sleep(scheduler.leases.ttl / 4)
    return outcomes
