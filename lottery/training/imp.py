"""Iterative magnitude pruning (Frankle & Carbin, 2019) as a Lightning callback, for any LightningModule and
Trainer: `from lottery import IterativeMagnitudePruning` (docs/own-model.md). `make train` trains through it.

A fit runs phases of `epochs_per_round` epochs: rounds 0..R, then the controls (`lottery.training.imp_run`).
θ0 is the network at fit start. At the end of round r < R each prunable layer loses the round(rate ·
remaining) surviving weights of smallest magnitude, and training restarts from θ_k ⊙ m_{r+1}
(`lottery.training.restart`): θ_k = θ0 for k = 0, else the prunable weights after k optimizer steps of round
0 (Frankle et al. 2019); the rest of the network as at fit start; the optimizers' state cleared, their
schedules back at their start. Gradients are masked before every optimizer step, so pruned weights stay
exactly zero without forward hooks.

A round's accuracy is the metric `monitor` logged by the evaluation that ends it; weights or metrics that
are not finite stop the fit (`Diverged`). The tickets go into the trainer's `MLFlowLogger` run as `make
train` records its own (`lottery.training.tracked_run`); without one they stay in `tickets`. The callback's
state holds the protocol's position, its tickets, the network and the optimizers at fit start, and the
global random streams, so `trainer.fit(..., ckpt_path=…)` resumes mid-IMP exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from lottery.errors import UserError
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.pruning import mask as masks
from lottery.tracking.trial_record import TrialRecord
from lottery.training import prunable_layers, random_state, restart, tracked_run
from lottery.training.imp_options import Options
from lottery.training.imp_run import ImpRun, Position
from lottery.training.tickets import RoundResult, Tickets

PRUNING, TRAINING, EXPERIMENT = PruningHparams(), TrainingHparams(), ExperimentConfig()


class IterativeMagnitudePruning(pl.Callback):
    """IMP of `rounds` pruning rounds after the dense round 0, `epochs_per_round` epochs each, then the
    `controls` (a comma-separated string or names: `random`, `reinit`, `signs`, `flipped`; empty: none).

    `rates`: one float for every layer, or a mapping of groups (`conv`, `dense`, `output`) and layer names to
    rates in [0, 1) (default: conv 0.1, dense 0.2, output 0.1); `layers`: the layers to prune, in forward
    order (default: every Conv*d and Linear weight the training forward uses, in that order), named within
    the submodule `network` (default: the LightningModule itself; e.g. "model" for `self.model = resnet18()`
    names the layers `conv1`, `layer1.0.conv1`, … rather than `model.conv1`, …); `rewind_step`: k of θ_k.
    `monitor` / `loss_monitor`: the metrics a round's evaluation logs (its accuracy, a fraction, and its
    loss; None: no loss). `dataset` (default: the datamodule's class name), `trial` and
    `seed` (which seeds the controls) are what the tracking contract and the analysis group by. A final
    ticket is winning within `winning_tolerance` points of the dense network's accuracy. `on_round_end`
    receives each `RoundResult` (default: a line per round).

    The trainer needs `max_epochs` ≥ this callback's `max_epochs`, and an evaluation at the end of every
    round (`check_val_every_n_epoch` dividing `epochs_per_round`).
    """

    def __init__(
        self,
        rounds: int = PRUNING.rounds,
        epochs_per_round: int = TRAINING.epochs,
        rates: prunable_layers.Rates = None,
        layers: Sequence[str] | None = None,
        network: str | None = None,
        rewind_step: int = PRUNING.rewind_step,
        monitor: str = "val_acc",
        loss_monitor: str | None = "val_loss",
        dataset: str | None = None,
        trial: int = 0,
        seed: int = EXPERIMENT.seed,
        controls: str | Sequence[str] = EXPERIMENT.controls,
        winning_tolerance: float = EXPERIMENT.winning_tolerance,
        on_round_end: Callable[[RoundResult], None] | None = None,
    ) -> None:
        self.options = Options(
            rounds=rounds,
            epochs_per_round=epochs_per_round,
            rates=rates,
            layers=None if layers is None else tuple(layers),
            network=network,
            rewind_step=rewind_step,
            monitor=monitor,
            loss_monitor=loss_monitor,
            dataset=dataset,
            trial=trial,
            seed=seed,
            controls=Options.selected_controls(controls),
            winning_tolerance=winning_tolerance,
        )
        self.run: ImpRun | None = None  # the protocol, once the fit has started it
        self._on_round_end = on_round_end or self._say_round
        self._record: TrialRecord | None = None
        self._owns_record, self._told = True, False
        self._resumed: tuple | None = None  # `resume_at`'s arguments
        self._restored: dict | None = None  # a checkpoint's state, until the fit starts
        self._order: prunable_layers.ForwardOrder | None = None
        self._fit_start: dict | None = None  # the network at fit start, until its layers are known
        self._epoch_started: float | None = None

    @property
    def max_epochs(self) -> int:
        """The epochs the whole protocol takes: round 0, the pruning rounds, the controls."""
        return self.options.phases * self.options.epochs_per_round

    @property
    def tickets(self) -> Tickets | None:
        """What the protocol found so far (None before the fit starts it)."""
        return None if self.run is None else self.run.tickets

    @property
    def phase(self) -> str | None:
        """What trains now, as lines name it: `round 3/11`, `random ticket`; None outside the protocol."""
        if self.run is None or self.run.done:  # or round 0 of a protocol whose layers its first step finds
            return f"round 0/{self.options.rounds}" if self._order is not None else None
        phase, rounds = self.run.position.phase, self.options.rounds
        return (
            f"round {phase}/{rounds}" if phase <= rounds else self.options.label(phase).removeprefix("the ")
        )

    def record_into(self, record: TrialRecord | None, on_round_end: Callable[[RoundResult], None]) -> None:
        """Let an owner — `make train`'s trial, a benchmark — drive the fits: it sizes them (a fit may cover
        part of the protocol), logs the run's tags, params and θ0 and finishes it; this callback records the
        rounds and controls in `record` (None: nowhere) and gives each round to `on_round_end`."""
        self._record, self._owns_record, self._on_round_end = record, False, on_round_end

    def resume_at(
        self, phase: int, mask: masks.Mask, rewind_point, theta0=None, seconds: float = 0.0
    ) -> None:
        """Continue a tracked trial at `phase` (round r ≤ R, or R + 1 + i: the i-th control) from what its
        run holds: the mask that phase trains (for a control: the final ticket's), θ_k, θ0 (where known) and
        the seconds its rounds took so far. The rest of the network restarts as the module holds it at fit
        start."""
        self._resumed = (phase, mask, rewind_point, theta0, seconds)

    # --- Lightning hooks -------------------------------------------------------------------------------

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._restored is not None:  # before the fit sets its data up: the loaders draw from the streams
            random_state.restore(self._restored["random"])

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.run is None and self._restored is None:
            self.options = self._with_dataset(trainer)
        if self._restored is not None:
            position = Position(**self._restored["position"])
        else:
            position = Position(phase=self._resumed[0] if self._resumed is not None else 0)
        self._check_fit(trainer, position)
        if self._owns_record and self._record is None and trainer.is_global_zero:
            self._record = tracked_run.logger_record(trainer)
            if self._record is None and not self._told:
                self._told = True
                rank_zero_warn(
                    "IterativeMagnitudePruning: no MLFlowLogger on the trainer, so nothing is recorded; the "
                    "tickets stay in memory (imp.tickets)"
                )
        if self._owns_record and self._record is not None:
            tracked_run.record_provenance(self._record, module)
        if self._restored is not None:
            self._continue(trainer, module)
        elif self._resumed is not None:
            self._resume(trainer, module)
        else:  # a new protocol: θ0 is the network as it is now
            self._fit_start = restart.snapshot(module)
            chosen = prunable_layers.find(self.options.root(module), self.options.layers)
            if self.options.layers is None:
                self._order = prunable_layers.ForwardOrder(chosen)  # read at the first optimizer step
            else:
                self._begin(trainer, module, self.options.layers)

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._epoch_started = time.monotonic()
        if self.run is not None:
            self.run.epoch_start(trainer, module)

    def on_before_optimizer_step(self, trainer: pl.Trainer, module: pl.LightningModule, optimizer) -> None:
        if self._order is not None:
            order, self._order = self._order.order(), None
            self._begin(trainer, module, order)
        self.run.mask_gradients()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *args) -> None:
        if self.run is not None:
            self.run.take_rewind_point(trainer.global_step)

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.run is not None and not trainer.sanity_checking:
            self.run.capture(trainer.callback_metrics)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.run is not None and not self.run.done:
            seconds = time.monotonic() - self._epoch_started if self._epoch_started is not None else 0.0
            self.run.epoch_end(trainer, module, seconds)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.run is not None and not self.run.done and self._owns_record:  # an owner sizes its fits
            rank_zero_warn(
                f"IterativeMagnitudePruning: the fit ended in {self.options.label(self.run.position.phase)} "
                f"of {self.options.rounds} pruning rounds, so no ticket was made"
            )

    def state_dict(self) -> dict:
        if self.run is None:
            return {}
        record = self._record if self._owns_record else None
        return {
            **self.run.state(),
            "options": {**self.options.compared(), "dataset": self.options.dataset},
            "random": random_state.captured(),
            "run_id": None if record is None else record.run_id,
        }

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        differing = self.options.differences(state["options"])
        if differing:
            raise UserError(
                f"this IterativeMagnitudePruning differs from the checkpoint's: {', '.join(differing)}; "
                "resume with the checkpoint's options"
            )
        self._restored = state

    # --- starting a protocol ---------------------------------------------------------------------------

    def _with_dataset(self, trainer: pl.Trainer) -> Options:
        """The options, `dataset` named after the datamodule (or `data`) where not given."""
        name = self.options.dataset or (type(trainer.datamodule).__name__ if trainer.datamodule else "data")
        return replace(self.options, dataset=name)

    def _check_fit(self, trainer: pl.Trainer, position: Position) -> None:
        """UserError for a fit that lacks an evaluation at each round's end, or (unless an owner drives the
        fits) ends before the protocol (from `position`)."""
        epochs = self.options.epochs_per_round
        left = (self.options.phases - position.phase) * epochs - position.epochs
        short = trainer.max_epochs not in (None, -1) and trainer.max_epochs - trainer.current_epoch < left
        if short and self._owns_record:
            raise UserError(
                f"max_epochs={trainer.max_epochs} ends the fit before IMP does: round 0, "
                f"{self.options.rounds} pruning rounds and {len(self.options.controls)} control(s) of "
                f"{epochs} epochs take {self.max_epochs}; pass max_epochs=imp.max_epochs"
            )
        every = trainer.check_val_every_n_epoch
        if every is not None and epochs % every:
            raise UserError(
                f"check_val_every_n_epoch={every} does not divide epochs_per_round={epochs}: every round "
                "ends with an evaluation"
            )

    def _new_run(
        self, trainer: pl.Trainer, tickets: Tickets, position: Position, rest: dict, start=None
    ) -> ImpRun:
        run = ImpRun(self.options, tickets, position, rest, start or restart.optimizer_start(trainer))
        run.record, run.owns_record, run.on_round_end = self._record, self._owns_record, self._on_round_end
        return run

    def _begin(self, trainer: pl.Trainer, module: pl.LightningModule, order: Sequence[str]) -> None:
        """A new protocol, its layers known: θ0 and the rest of the network from the fit-start snapshot."""
        rest, self._fit_start = self._fit_start, None
        tickets = Tickets({name: rest.pop(self.options.key(name)) for name in order})
        if self.options.rewind_step == 0:
            tickets.rewind_point = tickets.theta0
        self.run = self._new_run(trainer, tickets, Position(), rest)
        self.run.configure(module)
        self.run.describe(trainer, module)

    def _resume(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """A tracked trial resumed at a phase (`resume_at`): its start set, the rest of the network kept."""
        phase, mask, rewind_point, theta0, seconds = self._resumed
        self._resumed = None
        tickets = Tickets(theta0, mask, first_round=min(phase, self.options.rounds))
        tickets.rewind_point = rewind_point
        prunable = {self.options.key(name) for name in tickets.layers}
        rest = {k: v for k, v in restart.snapshot(module).items() if k not in prunable}
        self.run = self._new_run(trainer, tickets, Position(phase=phase, seconds=seconds), rest)
        self.run.configure(module)
        self.run.start_phase(module)

    def _continue(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """A fit resumed from a checkpoint (its random streams restored at fit start): what the protocol did
        so far recorded in this fit's run if it is another one, and a phase whose end the checkpoint came
        before ended now."""
        state, self._restored = self._restored, None
        self.options = replace(self.options, dataset=state["options"]["dataset"])
        tickets = Tickets.from_state(state["tickets"])
        position = Position(**state["position"])
        self.run = self._new_run(trainer, tickets, position, state["rest"], state["optimizer_start"])
        self.run.configure(module)
        if self._record is not None and self._owns_record and state["run_id"] != self._record.run_id:
            self.run.replay(trainer, module)
        if position.pending is not None and position.epochs == self.options.epochs_per_round - 1:
            self.run.end_phase(trainer, module)

    def _say_round(self, result: RoundResult) -> None:
        rank_zero_info(
            f"IMP round {result.round}/{self.options.rounds}: sparsity {masks.sparsity(result.mask):.1%}, "
            f"{self.options.monitor} {result.test_acc:.4f}"
        )
