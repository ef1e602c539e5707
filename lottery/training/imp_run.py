"""One IMP protocol in progress on a network: where it stands, its tickets so far, and its steps — a phase
ends (recorded, pruned, judged) and the next one restarts training from its start.

A phase ends at the end of its last epoch, with the evaluation taken at the validation that ended that epoch
(`capture`). Round r < R prunes from the trained weights, per layer, round(rate · remaining) of the
surviving weights of smallest magnitude (`lottery.pruning.mask.prune_by_magnitude`), and the next round
restarts from θ_k ⊙ m_{r+1}; after round R each control restarts from its own start (derived from the final
mask and θ_k, seeded by (seed, trial)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import pytorch_lightning as pl
import torch

from lottery.errors import UserError
from lottery.pruning import controls as registry
from lottery.pruning import mask as masks
from lottery.tracking import contract
from lottery.tracking.trial_record import TrialRecord
from lottery.training import prunable_layers, restart, tracked_run
from lottery.training.imp_options import Options
from lottery.training.tickets import Evaluation, RoundResult, Tickets
from lottery.training.verdict import judge


class Diverged(UserError):
    """Training `phase` gave weights or metrics that are not finite (`detail`) at learning rate `lr`."""

    def __init__(self, phase: str, detail: str, lr: float) -> None:
        self.phase, self.detail, self.lr = phase, detail, lr
        super().__init__(
            f"{phase} diverged ({detail}) at learning rate {lr:g}; lower the learning rate: no ticket is "
            "made from a diverged round"
        )


@dataclass
class Position:
    """Where a protocol stands: `phase` (0..R the rounds, then the controls), the `epochs` of it trained, its
    `pending` evaluation (monitored metric → value), the `seconds` spent training rounds so far, and whether
    the optimizers are yet to `restart` for the phase (when its first epoch starts: after the epoch-end step
    of the learning-rate schedules)."""

    phase: int = 0
    epochs: int = 0
    pending: dict[str, float] | None = None
    seconds: float = 0.0
    restart: bool = False


class ImpRun:
    """The protocol `options` on a network, from `tickets` and `position`. `rest` is the network but its
    prunable weights at fit start (what each phase restarts them from), `optimizer_start` the optimizers'
    (`lottery.training.restart.optimizer_start`). Each round is recorded in `record` (None: in memory only)
    and given to `on_round_end`; with `owns_record`, the run's params, tags, θ0 and finish are written here
    too (a user's run), else by the record's owner (`make train`'s trial)."""

    def __init__(
        self, options: Options, tickets: Tickets, position: Position, rest: dict, optimizer_start: dict
    ):
        self.options, self.tickets, self.position = options, tickets, position
        self.rest, self.optimizer_start = rest, optimizer_start
        self.record: TrialRecord | None = None
        self.owns_record = True
        self.on_round_end: Callable[[RoundResult], None] = lambda result: None
        self.rates: dict[str, float] = {}
        self.described_rates: dict[str, str] = {}
        self.weights: dict = {}  # each prunable layer's weight parameter
        self.masks: dict = {}  # the mask of the phase in training, on the training device
        self._grad_masks: dict | None = None  # the same in the weights' dtype, for the foreach multiply

    def state(self) -> dict:
        """The protocol's part of the callback's state: tickets, position, the network and the optimizers at
        fit start."""
        return {
            "tickets": self.tickets.state(),
            "position": asdict(self.position),
            "rest": self.rest,
            "optimizer_start": self.optimizer_start,
        }

    @property
    def done(self) -> bool:
        return self.position.phase >= self.options.phases

    def configure(self, module: pl.LightningModule) -> None:
        """Each prunable layer's weight and rate (its own, else its group's), and the phase's mask."""
        grouped = prunable_layers.groups(prunable_layers.find(self.options.root(module), self.tickets.layers))
        self.rates = prunable_layers.layer_rates(self.options.rates, grouped)
        self.described_rates = prunable_layers.described_rates(self.rates, grouped, self.options.rates)
        self.attach(module)
        self._use_mask(self.phase_start(min(self.position.phase, self.options.phases - 1))[1])

    def attach(self, module: pl.LightningModule) -> None:
        """Find the prunable weights again: UserError if one changed shape since θ0."""
        root = self.options.root(module)
        self.weights = restart.prunable_weights(root, self.tickets.shapes)

    def _use_mask(self, mask: masks.Mask) -> None:
        device = next(iter(self.weights.values())).device
        self.masks = {name: m.to(device) for name, m in mask.items()}
        self._grad_masks = None

    def mask_gradients(self) -> None:
        """g ← g ⊙ m for every prunable weight with a gradient, in one foreach multiply (one kernel on CUDA;
        bit for bit the products of a multiply per layer)."""
        names = [name for name, weight in self.weights.items() if weight.grad is not None]
        if self._grad_masks is None:
            self._grad_masks = {name: self.masks[name].to(w.dtype) for name, w in self.weights.items()}
        if names:
            grads = [self.weights[name].grad for name in names]
            torch._foreach_mul_(grads, [self._grad_masks[name] for name in names])

    def take_rewind_point(self, global_step: int) -> None:
        """θ_k: the prunable weights once round 0 has taken k optimizer steps."""
        if self.tickets.rewind_point is None and global_step == self.options.rewind_step:
            self.tickets.rewind_point = {n: w.detach().to("cpu", copy=True) for n, w in self.weights.items()}

    def phase_start(self, phase: int) -> tuple[Mapping, masks.Mask]:
        """The weights and the mask `phase` starts from: θ0, or θ_k and the round's mask, or a control's."""
        if phase <= self.options.rounds:
            weights = self.tickets.theta0 if phase == 0 else self.tickets.rewind_point
            return weights, self.tickets.mask(phase)
        start = self.control_start(self.options.controls[phase - self.options.rounds - 1])
        return start.weights, start.mask

    def control_start(self, control: registry.Control) -> registry.Start:
        final_mask = self.tickets.mask(self.options.rounds)
        return control.start(final_mask, self.tickets.rewind_point, self.options.seed, self.options.trial)

    def start_phase(self, module: pl.LightningModule) -> None:
        """Restart training from where the current phase starts: the weights now, the optimizers when its
        first epoch starts (`epoch_start`)."""
        weights, mask = self.phase_start(self.position.phase)
        restart.set_weights(module, self.weights, weights, mask, self.rest)
        self._use_mask(mask)
        self.position.restart = True

    def epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """An epoch starts: the prunable weights found again; the optimizers restarted if the phase starts."""
        self.attach(module)
        if self.position.restart:
            restart.restart_optimizers(trainer, self.optimizer_start)
            self.position.restart = False

    def capture(self, metrics: Mapping) -> None:
        """At a validation in the phase's last epoch: its monitored metrics (the last such one counts)."""
        if self.position.epochs == self.options.epochs_per_round - 1 and not self.done:
            keys = (self.options.monitor, self.options.loss_monitor)
            self.position.pending = {
                key: float(metrics[key]) for key in keys if key is not None and key in metrics
            }

    def epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule, seconds: float) -> None:
        """An epoch of `seconds` ended: `Diverged` if a weight is not finite; the phase ends with its last."""
        self.position.seconds += seconds
        bad = [name for name, weight in self.weights.items() if not weight.detach().isfinite().all()]
        if bad:
            raise Diverged(
                self.options.label(self.position.phase),
                f"the weights of {', '.join(bad)} are not finite",
                _lr(trainer),
            )
        if self.position.epochs + 1 < self.options.epochs_per_round:
            self.position.epochs += 1
        else:
            self.end_phase(trainer, module)

    def end_phase(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        phase, rounds = self.position.phase, self.options.rounds
        self.attach(module)
        evaluation = self._evaluation(trainer)
        if phase <= rounds:
            self._end_round(trainer, phase, evaluation)
        else:
            control = self.options.controls[phase - rounds - 1]
            self.tickets.controls[control.name] = evaluation
            self.log_control(control, evaluation)
        self.position = Position(phase=phase + 1, seconds=self.position.seconds)
        if self.done:
            self._complete(trainer)
        else:
            self.start_phase(module)

    def _evaluation(self, trainer: pl.Trainer) -> Evaluation:
        """The phase's evaluation; UserError if a monitored metric was not logged, `Diverged` if one is not
        finite."""
        pending, label = self.position.pending or {}, self.options.label(self.position.phase)
        for key in (self.options.monitor, self.options.loss_monitor):
            if key is not None and key not in pending:
                logged = ", ".join(sorted(trainer.callback_metrics)) or "none"
                raise UserError(
                    f"the metric {key!r} that IMP monitors was not logged by the end of {label}: log it "
                    f"where each round is evaluated (self.log({key!r}, …) in validation_step), or monitor "
                    f"one of those logged ({logged})"
                )
        bad = [f"the {key} is {value}" for key, value in pending.items() if not math.isfinite(value)]
        if bad:
            raise Diverged(label, ", ".join(bad), _lr(trainer))
        return Evaluation(pending[self.options.monitor], pending.get(self.options.loss_monitor))

    def _end_round(self, trainer: pl.Trainer, round_index: int, evaluation: Evaluation) -> None:
        """Record round r and, unless it is the last, prune the next round's mask from the trained weights."""
        moved = [n for n, w in self.weights.items() if w.detach()[~self.masks[n]].any()]
        if moved:
            raise UserError(
                f"the optimizer moved pruned weights of {', '.join(moved)}: IMP needs one whose update of a "
                "weight with zero gradient and fresh state is zero (SGD, Adam, AdamW, …)"
            )
        if self.tickets.rewind_point is None:
            raise UserError(
                f"round 0 ended after {trainer.global_step} optimizer steps, before the rewind step "
                f"{self.options.rewind_step}; choose rewind_step <= {trainer.global_step}"
            )
        following = None
        if round_index < self.options.rounds:
            trained = {name: w.detach() for name, w in self.weights.items()}
            following = masks.prune_by_magnitude(trained, self.tickets.current_mask, self.rates)
        result = self.tickets.add_round(round_index, evaluation, self.position.seconds, following)
        self.log_round(result)
        self.on_round_end(result)

    def _complete(self, trainer: pl.Trainer) -> None:
        """The protocol is done: unless `make train` owns the run, judge the final ticket, finish the run."""
        trainer.should_stop = True
        if not self.owns_record:
            return
        dense, final = self.tickets.rounds[0].acc, self.tickets.rounds[self.options.rounds].acc
        verdict = self.tickets.verdict = judge(dense, final, self.options.winning_tolerance)
        if self.record is not None:
            self.record.finish(self.tickets.mask(self.options.rounds), verdict.winning, verdict.code)

    # --- recording -------------------------------------------------------------------------------------

    def describe(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """A user's run gets the contract's params and tags, and θ0."""
        if self.record is None or not self.owns_record:
            return
        params = tracked_run.params(self, trainer, module)
        self.record.describe(tracked_run.tags(self, params), params)
        self.record.log_arrays(contract.INIT_ARTIFACT, {n: w.numpy() for n, w in self.tickets.theta0.items()})

    def replay(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Record what the protocol did so far in a run without it (a fit resumed under a new run)."""
        self.describe(trainer, module)
        for r in sorted(self.tickets.rounds):
            self.log_round(self.tickets.result(r, last=r == self.options.rounds))
        for control in self.options.controls:
            if control.name in self.tickets.controls:
                self.log_control(control, self.tickets.controls[control.name])

    def log_round(self, result: RoundResult) -> None:
        if self.record is not None:
            rewound = self.tickets.rewind_point if result.round == 0 and self.options.rewind_step else None
            self.record.log_round(result.round, result.mask, result.next_mask, result.evaluation, rewound)

    def log_control(self, control: registry.Control, evaluation: Evaluation) -> None:
        if self.record is not None:
            start = self.control_start(control)
            self.record.log_control(control, start, evaluation.acc, evaluation.loss, step=self.options.rounds)


def _lr(trainer: pl.Trainer) -> float:
    """The first optimizer's learning rate (NaN without one)."""
    return float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else math.nan
