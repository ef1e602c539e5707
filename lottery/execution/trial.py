"""A trial: one IMP run of rounds 0..R with pruning and rewinding to θ_k (θ0 unless late rewinding), then
the selected controls (`lottery.pruning.controls`, the random ticket by default), each trained one round's
epochs from θ_k.

Trial k starts from θ0 drawn from (SEED, k) only. Its rounds train in one fit, each control in a fit of its
own (its own batch order), all through the IMP callback (`lottery.training.imp`), which records them in the
trial's run. Resuming picks up at the first round whose metrics are missing, from the mask (and θ_k) the
store holds for it; a control whose metrics are logged is not redone.

A `TrialTask` binds trial k of a configuration to its MLflow run and the driver's lease on it — the unit
every executor runs. The driver claims the run before any training, so an executor only ever resumes a
run: a task run twice (a retry after a worker died, a re-run after Ctrl-C) continues from the run's last
complete round and never opens a second run for the same trial.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch

from lottery import models, seeds
from lottery.data.datamodule import DeviceDataModule
from lottery.data.dataset import Dataset
from lottery.errors import UserError, first_line
from lottery.execution.output import print_line
from lottery.execution.trial_hooks import TrialHook, TrialHooks
from lottery.hparams import ExperimentConfig
from lottery.models import network
from lottery.pruning import controls
from lottery.pruning import mask as masks
from lottery.pruning.controls import Control
from lottery.tracking import contract, provenance
from lottery.tracking.contract import REWIND_ARTIFACT, round_mask_artifact
from lottery.tracking.lease import LeaseLost
from lottery.tracking.trial_record import TrialRecord, end_run
from lottery.training.classifier import Classifier
from lottery.training.device import deterministic_algorithms
from lottery.training.fit import Heartbeat, fit
from lottery.training.imp import IterativeMagnitudePruning
from lottery.training.imp_run import Diverged
from lottery.training.tickets import RoundResult
from lottery.training.verdict import Verdict, judge


def label(config: ExperimentConfig, index: int) -> str:
    """How lines and errors name trial `index` (0-based) of `config`: `digits trial 3/20`."""
    return f"{config.dataset} trial {index + 1}/{config.trials}"


def theta0_for(seed: int, trial: int, model: str) -> dict[str, torch.Tensor]:
    """θ0 of trial `trial` of `model`: depends on (seed, trial) only, never on the dataset."""
    return network.initial_weights(model, seeds.torch_generator(seed, trial, seeds.INIT_STREAM))


class Trial:
    """Trial `index` (0-based) of `config`, recorded in `record`; `say` prints the summary lines. With
    `show_progress`, Lightning shows its progress bars; without, `say` also says a line per epoch. Every fit
    also runs the Lightning `callbacks` given (after the trial's own); `hooks` are told of its phases
    (`lottery.execution.trial_hooks`)."""

    def __init__(
        self,
        config: ExperimentConfig,
        index: int,
        dataset: Dataset,
        record: TrialRecord,
        say: Callable[[str], None] = print_line,
        show_progress: bool = True,
        callbacks: Sequence[pl.Callback] = (),
        hooks: Sequence[TrialHook] = (),
    ) -> None:
        self.config, self.index, self.dataset, self.record = config, index, dataset, record
        self.say, self.show_progress, self.callbacks = say, show_progress, tuple(callbacks)
        self.hooks = TrialHooks(hooks)
        self.label = label(config, index)

    def run(self) -> Verdict:
        """Train what is missing, finish the run, and return the verdict on its final ticket."""
        theta0 = self.record.ensure_theta0(theta0_for(self.config.seed, self.index, self.config.model))
        rounds = self.config.pruning.rounds
        first = self.record.completed_rounds()
        rewind_point = self.stored_rewind_point(theta0, first)
        if first <= rounds:
            rewind_point = self.train_rounds(theta0, rewind_point, first)
        final_mask = self.record.load_mask(round_mask_artifact(rounds)) if rounds else masks.full(theta0)
        self.train_controls(rewind_point, final_mask)
        accuracy = self.record.metric_steps(contract.TEST_ACC)
        verdict = judge(
            accuracy[0], accuracy[rounds], self.config.winning_tolerance, self.dataset.test.labels
        )
        self.record.finish(final_mask, verdict.winning, verdict.code)
        compared = "".join(
            f", {control.title} {self.record.metric_steps(control.acc_metric)[rounds]:.2%}"
            for control in controls.selected(self.config.controls)
        )
        self.say(
            f"{self.label}: final ticket {accuracy[rounds]:.2%}, dense {accuracy[0]:.2%}"
            f"{compared}: {verdict.reason}"
        )
        return verdict

    def stored_rewind_point(
        self, theta0: dict[str, torch.Tensor], completed: int
    ) -> dict[str, torch.Tensor] | None:
        """θ_k: θ0 when k = 0; the run's θ_k once round 0 is complete; None while round 0 is to be trained."""
        if self.config.pruning.rewind_step == 0:
            return theta0
        if completed == 0:
            return None
        stored = self.record.load_arrays(REWIND_ARTIFACT, np.float32)
        return {name: torch.from_numpy(array) for name, array in stored.items()}

    def imp(self, controls: str = "") -> IterativeMagnitudePruning:
        """The IMP callback of this trial's protocol, `controls` after its rounds, recording in its run."""
        config = self.config
        spec = models.spec(config.model)
        callback = IterativeMagnitudePruning(
            rounds=config.pruning.rounds,
            epochs_per_round=config.training.epochs,
            rates=spec.rates(config.pruning),
            layers=spec.layer_names,
            network="model",
            rewind_step=config.pruning.rewind_step,
            monitor=contract.TEST_ACC,
            loss_monitor=contract.TEST_LOSS,
            dataset=config.dataset,
            trial=self.index,
            seed=config.seed,
            controls=controls,
            winning_tolerance=config.winning_tolerance,
        )
        callback.record_into(self.record, self.on_round_end)
        return callback

    def train_rounds(
        self, theta0: dict[str, torch.Tensor], rewind_point: dict[str, torch.Tensor] | None, first: int
    ) -> dict[str, torch.Tensor]:
        """Rounds `first`..R, from θ0 (round 0) or θ_k ⊙ the stored mask; return θ_k."""
        epochs, rounds = self.config.training.epochs, self.config.pruning.rounds
        imp = self.imp()
        if first > 0:
            seconds = self.record.metric_steps(contract.TRAINING_SECONDS).get(first - 1, 0.0)
            mask = self.record.load_mask(round_mask_artifact(first))
            imp.resume_at(first, mask, rewind_point, theta0, seconds)
        data = DeviceDataModule(
            self.dataset,
            self.config.training.batch_size,
            (self.config.seed, self.index, seeds.IMP_BATCHES_STREAM),
            first * epochs,
        )
        steps, k = epochs * len(data.train_batches), self.config.pruning.rewind_step
        if k > steps:
            raise UserError(
                f"the rewind step {k} lies beyond round 0, which takes {steps} steps ({epochs} epochs of "
                f"{len(data.train_batches)} batches); choose --rewind-step <= {steps}"
            )
        start = theta0 if first == 0 else rewind_point
        module = Classifier(self.config.model, start, self.config.training.lr)
        where = self.heartbeat(lambda epoch: f"round {first + epoch // epochs}/{rounds}")
        with self.diverged_as():
            fit(
                module,
                data,
                self.config,
                (rounds + 1 - first) * epochs,
                [imp, *where, *self.callbacks],
                self.show_progress,
            )
        return dict(imp.tickets.rewind_point)

    def heartbeat(self, where: Callable[[int], str]) -> list[Heartbeat]:
        """A line per epoch (`where(epoch)` names the round or the control) when there are no bars."""
        if self.show_progress:
            return []
        return [
            Heartbeat(self.say, lambda epoch: f"{self.label} · {where(epoch)}", self.config.training.epochs)
        ]

    @contextlib.contextmanager
    def diverged_as(self) -> Iterator[None]:
        """A `Diverged` from training becomes a user error naming what diverged and the likely cause."""
        try:
            yield
        except Diverged as error:
            raise UserError(
                f"{error.phase} diverged ({error.detail}) at learning rate {self.config.training.lr:g}; "
                "lower LR and re-run: no ticket is made from a diverged round"
            ) from None

    def on_round_end(self, result: RoundResult) -> None:
        """Round `result.round` is recorded in the run: its summary line."""
        self.say(
            f"{self.label} · round {result.round}/{self.config.pruning.rounds} · "
            f"sparsity {masks.sparsity(result.mask):.1%} · test acc {result.test_acc:.2%}"
        )
        self.hooks.round_end(self.index, result)

    def train_controls(self, rewind_point: dict[str, torch.Tensor], final_mask: masks.Mask) -> None:
        """The selected controls in registry order, but those whose metrics are logged at step R already."""
        for control in controls.selected(self.config.controls):
            if not all(self.config.pruning.rounds in self.record.metric_steps(m) for m in control.metrics):
                self.hooks.control_start(self.index, control)
                self.train_control(control, rewind_point, final_mask)
                self.hooks.control_end(self.index, control)

    def train_control(
        self, control: Control, rewind_point: dict[str, torch.Tensor], final_mask: masks.Mask
    ) -> None:
        """Train `control` for one round's epochs from where it starts (derived from the final mask and θ_k)
        on its own batch order; the callback logs its artifact, then its metrics at step R (last: they mark it
        done)."""
        data = DeviceDataModule(
            self.dataset,
            self.config.training.batch_size,
            control.batches_entropy(self.config.seed, self.index),
        )
        imp = self.imp(controls=control.name)
        imp.resume_at(self.config.pruning.rounds + 1, final_mask, rewind_point)
        module = Classifier(self.config.model, rewind_point, self.config.training.lr)
        with self.diverged_as():
            fit(
                module,
                data,
                self.config,
                self.config.training.epochs,
                [imp, *self.heartbeat(lambda epoch: control.title), *self.callbacks],
                self.show_progress,
            )


@dataclass(frozen=True)
class TrialTask:
    config: ExperimentConfig
    index: int
    run_id: str
    generation: int | None = None  # the driver's lease on the run (`lottery.lease`); None: unchecked

    @property
    def label(self) -> str:
        return label(self.config, self.index)

    def run(
        self,
        dataset: Dataset,
        client,
        say: Callable[[str], None],
        show_progress: bool,
        callbacks: Sequence[pl.Callback] = (),
        hooks: Sequence[TrialHook] = (),
    ) -> Verdict:
        """Train what the run is missing on `dataset` (already on the training device), with the Lightning
        `callbacks` in every fit and `hooks` told of its phases, and finish the run; return the verdict on
        its final ticket. The run ends KILLED on Ctrl-C and FAILED on an error."""
        record = TrialRecord.open(client, self.run_id, self.generation)
        completed = record.completed_rounds()
        where = f"in {record.name} on {dataset.train.images.device}"
        say(
            f"{self.label}: resuming {where} after {completed} completed rounds"
            if completed
            else f"{self.label}: training {where}"
        )
        record.reopen()
        device = dataset.train.images.device
        environment = provenance.environment(device, deterministic_algorithms(device))
        provenance.record(client, self.run_id, environment)
        try:
            return Trial(self.config, self.index, dataset, record, say, show_progress, callbacks, hooks).run()
        except LeaseLost:
            raise  # the run is another driver's now: leave its status alone
        except BaseException as error:
            end_run(client, self.run_id, error)
            raise


@dataclass(frozen=True)
class TrialOutcome:
    """How a task ended: its `verdict` when it finished, else the `error` (one line) that stopped it;
    `crashed` when that error was not a user error (a bug or a crash, whose traceback was reported)."""

    task: TrialTask
    verdict: Verdict | None = None
    error: str | None = None
    crashed: bool = False

    @property
    def winning(self) -> bool:
        return self.verdict is not None and self.verdict.winning


def failure(task: TrialTask, error: BaseException) -> TrialOutcome:
    """The outcome of a task stopped by `error`: a user error by its message, anything else with its type."""
    if isinstance(error, UserError):
        return TrialOutcome(task, error=first_line(error))
    return TrialOutcome(task, error=f"{type(error).__name__}: {first_line(error)}", crashed=True)
