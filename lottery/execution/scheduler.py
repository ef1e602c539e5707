"""Taking trials up under leases: which trials this driver trains, which another driver holds.

A driver takes a trial up only under a lease (`lottery.tracking.lease`): it finds or creates the trial's
run, claims it, and marks it SCHEDULED. A finished run is skipped unless it lacks a selected control: then
it is taken up again, and its trial trains only the controls it lacks. Trials held by another driver are
reported as such, so that the experiment waits for them and takes over any whose lease expires.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lottery.data.dataset import Dataset
from lottery.execution.trial import TrialTask, label, theta0_for
from lottery.hparams import ExperimentConfig
from lottery.pruning.controls import selected
from lottery.tracking import store
from lottery.tracking.lease import HOLDER, Leases, LeaseState
from lottery.tracking.trial_record import TrialRecord, end_run

_CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class HeldElsewhere:
    """Trial `index` is being trained by another driver, whose lease is `lease`."""

    index: int
    lease: LeaseState


class Scheduler:
    """Takes up the trials of `config` for this driver: each under a lease, in its one run."""

    def __init__(
        self, client, config: ExperimentConfig, dataset: Dataset, leases: Leases, say: Callable[[str], None]
    ) -> None:
        self.client, self.config, self.dataset, self.leases, self.say = client, config, dataset, leases, say
        self.experiment_id = store.experiment_id(client, config.dataset)
        self._jitter = random.Random(HOLDER)  # timing only, never results: seeded by this driver's id

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
                missing = self.missing_controls(finished[0])
                if not missing:
                    self.say(f"{label(self.config, index)}: finished in {finished[0].info.run_name}, skipped")
                    return None
                self.say(
                    f"{label(self.config, index)}: finished in {finished[0].info.run_name}; adding the "
                    f"{', '.join(missing)} control(s)"
                )
                runs = finished[:1]  # taken up again to train the controls it lacks, as an unfinished run
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
                record = TrialRecord(self.client, run)
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

    def missing_controls(self, run) -> list[str]:
        """The selected controls (`--controls`) whose metrics the finished `run` lacks."""
        logged = run.data.metrics
        return [c.name for c in selected(self.config.controls) if not all(m in logged for m in c.metrics)]

    def _create(self, index: int):
        record = TrialRecord.create(
            self.client,
            self.experiment_id,
            self.config,
            index,
            theta0_for(self.config.seed, index, self.config.model),
            self.dataset,
        )
        return self.client.get_run(record.run_id)

    def end_held(self, reason: BaseException) -> None:
        """End every unfinished run this driver still holds, stopped by `reason` (`end_run`); a store that
        fails is left as it is (the re-run resumes those runs)."""
        for run_id in list(self.leases.held):
            if not end_run(self.client, run_id, reason):
                return
