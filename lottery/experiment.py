"""An experiment: `trials` IMP trials of one configuration on one dataset, each in its own MLflow run.

Idempotent: finished trials are skipped, unfinished ones resume in their run. A driver takes a trial up
only under a lease (`lottery.lease`): it finds or creates the trial's run, claims it, marks it SCHEDULED
and hands it to the executor. Trials held by another driver are left to it; once its own trials are done,
a driver waits for those, taking over any whose lease expires (that driver died). So several drivers may
share one configuration, each trial is trained by exactly one of them, and every command ends when the
configuration's trials are all done. A trial interrupted by Ctrl-C ends KILLED, one that crashed FAILED;
neither is ever marked FINISHED.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tqdm import tqdm

from lottery import tracking
from lottery.data.datamodule import on_device
from lottery.data.dataset import Dataset
from lottery.data.registry import load_dataset
from lottery.device import training_device
from lottery.hparams import ExperimentConfig
from lottery.lease import HOLDER, Leases, LeaseState
from lottery.local_executor import run_locally
from lottery.ray_settings import RaySettings
from lottery.trial import theta0_for
from lottery.trial_record import TrialRecord
from lottery.trial_task import TrialOutcome, TrialTask

_CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class HeldElsewhere:
    """Trial `index` is being trained by another driver, whose lease is `lease`."""

    index: int
    lease: LeaseState


def run_experiment(
    config: ExperimentConfig,
    data_dir: str,
    tracking_uri: str | None = None,
    ray: RaySettings | None = None,
    say: Callable[[str], None] = tqdm.write,
    show_progress: bool = True,
) -> list[TrialOutcome]:
    """Train every unfinished trial, here (`ray` None) or as Ray tasks, sharing the work with any other
    driver of the same configuration; return the outcomes of the trials this driver trained."""
    config.validate()
    uri = tracking.resolve_tracking_uri(tracking_uri)
    if ray is not None:
        ray.validate(uri)  # before anything slow: a refused setup fails in a second
    client = tracking.connect(uri)
    dataset = load_dataset(config.dataset, data_dir, config.train_splits)
    say(
        f"{config.dataset}: {len(dataset.train)} train / {len(dataset.test)} test images, "
        f"config {config.config_id()}, store {client.tracking_uri}"
    )
    with Leases(client) as leases:
        scheduler = Scheduler(client, config, dataset, leases, say)
        try:
            return _run_all(scheduler, dataset, ray, say, show_progress)
        except BaseException as error:  # Ctrl-C, a lost store, or the executor itself failed
            status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
            scheduler.abandon_held(status)
            if isinstance(error, Exception):
                lost = tracking.store_lost(client, error)
                if lost is not None:
                    raise lost from None
            raise


def _run_all(
    scheduler: Scheduler,
    dataset: Dataset,
    ray: RaySettings | None,
    say: Callable[[str], None],
    show_progress: bool,
) -> list[TrialOutcome]:
    """Rounds of taking up and running trials until none is left to this driver or to another one."""
    config, client = scheduler.config, scheduler.client
    pending, outcomes, announced = list(range(config.trials)), [], set()
    local = None
    while pending:
        held: list[HeldElsewhere] = []
        tasks = scheduler.take_up(pending, held)
        if ray is None:
            if local is None:
                local = on_device(dataset, training_device())
                say(f"{config.dataset}: trials one after another on {local.train.images.device}")
            outcomes += run_locally(tasks, local, client, say, show_progress, scheduler.leases.release)
        else:
            batch = list(tasks)
            if batch:
                from lottery.ray_executor import run_on_ray  # Ray loads only when asked for

                outcomes += run_on_ray(batch, dataset, client, ray, say, show_progress)
                for task in batch:
                    scheduler.leases.release(task.run_id)
        pending = [h.index for h in held]
        for h in held:
            if h.index not in announced:
                announced.add(h.index)
                say(f"{scheduler.label(h.index)}: being trained by {h.lease.describe()}; waiting for it")
        if pending:
            time.sleep(scheduler.leases.ttl / 4)
    return outcomes


class Scheduler:
    """Takes up the trials of `config` for this driver: each under a lease, in its one run."""

    def __init__(
        self, client, config: ExperimentConfig, dataset: Dataset, leases: Leases, say: Callable[[str], None]
    ) -> None:
        self.client, self.config, self.dataset, self.leases, self.say = client, config, dataset, leases, say
        self.experiment_id = tracking.experiment_id(client, config.dataset)
        self._jitter = random.Random(HOLDER)  # timing only, never results: seeded by this driver's id

    def label(self, index: int) -> str:
        return f"{self.config.dataset} trial {index + 1}/{self.config.trials}"

    def take_up(self, indices: list[int], held: list[HeldElsewhere]) -> Iterator[TrialTask]:
        """A task for each trial of `indices` this driver could claim, claimed as the executor asks for it;
        trials held by another driver are appended to `held`, finished ones skipped."""
        for index in indices:
            taken = self.take(index)
            if isinstance(taken, TrialTask):
                yield taken
            elif isinstance(taken, HeldElsewhere):
                held.append(taken)

    def take(self, index: int) -> TrialTask | HeldElsewhere | None:
        """Trial `index` claimed for this driver (its run found or created, marked SCHEDULED), or who holds
        it, or None when it is finished.

        Two drivers may create a run for the same trial at the same moment. Each claims its run and then
        looks again: whoever sees another live claim on the trial gives its own up (deleting the run it just
        created) and tries again after a random pause, so at most one claim survives.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            runs = TrialRecord.runs_of(self.client, self.experiment_id, self.config, index)
            finished = [run for run in runs if run.info.status == "FINISHED"]
            if finished:
                self.say(f"{self.label(index)}: finished in {finished[0].info.run_name}, skipped")
                return None
            for run in runs:
                lease = LeaseState.of(run)
                if lease.live() and lease.holder != HOLDER:
                    return HeldElsewhere(index, lease)
            created = not runs
            run = runs[0] if runs else self._create(index)
            generation = self.leases.claim(run)
            if generation is None:
                continue  # another driver claimed it first: the next look finds its lease
            others = TrialRecord.runs_of(self.client, self.experiment_id, self.config, index)
            if not any(o.info.run_id != run.info.run_id and LeaseState.of(o).live() for o in others):
                record = TrialRecord(self.client, run.info.run_id, run.info.run_name)
                record.schedule()
                return TrialTask(self.config, index, record.run_id, generation)
            if created:
                self.client.delete_run(run.info.run_id)
                self.leases.forget(run.info.run_id)
            else:
                self.leases.release(run.info.run_id)
            time.sleep(self._jitter.uniform(0.05, 0.5))
        runs = TrialRecord.runs_of(self.client, self.experiment_id, self.config, index)
        leases = [LeaseState.of(run) for run in runs]
        return HeldElsewhere(index, max(leases, key=lambda s: s.expires_ms, default=LeaseState()))

    def _create(self, index: int):
        record = TrialRecord.create(
            self.client,
            self.experiment_id,
            self.config,
            index,
            theta0_for(self.config.seed, index),
            self.dataset,
        )
        return self.client.get_run(record.run_id)

    def abandon_held(self, status: str) -> None:
        """Mark every run this driver still holds `status` (KILLED or FAILED) if unfinished; a store that
        cannot be reached is left as it is (the re-run resumes those runs)."""
        for run_id in list(self.leases.held):
            try:
                TrialRecord.open(self.client, run_id).abandon(status)
            except Exception:
                return
