"""Typed hyperparameters of an IMP experiment; the defaults are Frankle & Carbin (2019)'s Conv-2 protocol.

Each field is declared with `lottery.options.hparam`: its default, what it means and, where they exist, its
bounds or its choices, in one place. `python -m experiments.train` derives its options from these fields
(`lottery.options`), so adding a hyperparameter is adding a field. A configuration is complete and valid
once built: out-of-bounds values are refused, the rates it leaves to the model are filled in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from lottery.errors import UserError
from lottery.options import ADDED_SINCE, IDENTIFIES, check_bounds, default_of, hparam, logged_name
from lottery.tracking import contract

# Bounds on counts that would otherwise run for months or flood the store (the paper: 20 trials, 11 rounds,
# 10 epochs); --help states them.
MAX_TRIALS = 1000
MAX_ROUNDS = 100
MAX_EPOCHS = 1000

# Guard rails: values that are legal but waste a run, warned about (`ExperimentConfig.doubts`). Adam trains
# these networks between these learning rates (Frankle & Carbin: 2e-4 to 1.2e-3); far outside, the dense
# network diverges or stays at chance.
ADAM_LR = (1e-5, 1e-2)
MIN_STEPS = 10  # optimizer steps an epoch, below which an epoch hardly trains
MAX_TOLERANCE = 10.0  # points; above, a ticket far worse than the dense network still counts as winning

RATE_GROUPS = ("conv", "dense", "output")  # the layer groups a model sorts its prunable layers into
PAPER_RATES = {"conv": 0.1, "dense": 0.2, "output": 0.1}  # Frankle & Carbin's per-round rates for Conv-2/4
MODEL_RATES = {"conv6": {**PAPER_RATES, "conv": 0.15}}  # the models whose rates differ (the paper's Conv-6)


def default_rates(model: str) -> Mapping[str, float]:
    """The per-round pruning rate of each layer group of `model` unless the user sets it."""
    return MODEL_RATES.get(model, PAPER_RATES)


class ModelRate(float):
    """A pruning rate the user left to the model, holding the model's value: equal to, logged and digested as
    the float it is, but still the model's, so a configuration whose model changes
    (`dataclasses.replace(config, model="conv6")`) takes the new model's rate where it holds one of these,
    and keeps a rate the user gave (a plain float)."""


@dataclass(frozen=True)
class TrainingHparams:
    """Adam at learning rate `lr`, `batch_size` images a step, `epochs` a round, optional bf16 autocast."""

    epochs: int = hparam(10, "epochs per round", minimum=1, maximum=MAX_EPOCHS, label="EPOCHS")
    batch_size: int = hparam(60, "images per optimizer step", minimum=1, label="BATCH_SIZE")
    lr: float = hparam(2e-4, "Adam's learning rate, a finite number > 0")
    bf16: bool = hparam(False, "bf16 autocast (mixed precision)")

    def __post_init__(self) -> None:
        """UserError for a value out of bounds."""
        check_bounds(self)
        if not 0 < self.lr < math.inf:
            raise UserError(f"LR must be a finite number > 0, got {self.lr}")


def _rate(group: str, help: str) -> float | None:
    return hparam(None, help, minimum=0, maximum=1, strict=True, label=f"the {group} pruning rate")


@dataclass(frozen=True)
class PruningHparams:
    """Per-round fractions of each layer group's *remaining* weights to prune; `rounds` after round 0; and
    late rewinding: every round resets the survivors to θ_k, the weights after `rewind_step` = k optimizer
    steps of round 0 (k = 0: θ0, Frankle & Carbin 2019; k > 0: Frankle et al. 2019, "Stabilizing the LTH").

    A rate left None is the model's (`default_rates`): `ExperimentConfig` fills it in when built, as a
    `ModelRate`."""

    rounds: int = hparam(
        11, "pruning rounds after the dense round 0", minimum=0, maximum=MAX_ROUNDS, label="ROUNDS"
    )
    conv_rate: float | None = _rate(
        "conv",
        "fraction of its remaining weights a conv layer loses each round (None: the model's, 0.1; 0.15 for "
        "conv6)",
    )
    dense_rate: float | None = _rate(
        "dense", "fraction of its remaining weights a dense layer loses each round (None: the model's, 0.2)"
    )
    output_rate: float | None = _rate(
        "output",
        "fraction of its remaining weights the output layer loses each round (None: the model's, 0.1)",
    )
    rewind_step: int = hparam(
        0,
        "late rewinding: rounds restart from the weights after this many iterations of round 0 (0: θ0)",
        minimum=0,
        label="the rewind step",
        added_since="late rewinding",
    )

    def __post_init__(self) -> None:
        """UserError for a value out of bounds."""
        check_bounds(self)

    def rate(self, group: str) -> float | None:
        """The rate of a layer group (one of `RATE_GROUPS`); None: the model's, not filled in."""
        return getattr(self, f"{group}_rate")

    def with_default_rates(self, defaults: Mapping[str, float]) -> PruningHparams:
        """These hyperparameters with each rate left to the model (None, or a `ModelRate` of an earlier
        model) taken from `defaults` (group -> rate), as a `ModelRate`; the rates the user gave kept."""
        left = [g for g in RATE_GROUPS if self.rate(g) is None or isinstance(self.rate(g), ModelRate)]
        return replace(self, **{f"{g}_rate": ModelRate(defaults[g]) for g in left})


@dataclass(frozen=True)
class ExperimentConfig:
    """`trials` independent IMP trials of `model` on `dataset`; trial k's θ0 derives from (`seed`, k) only.

    A trial's final ticket is winning when its test accuracy ≥ the dense network's minus
    `winning_tolerance` percentage points. Built, it is complete: every pruning rate left to the model holds
    the model's (`default_rates`), so a configuration never changes after it is made; one made from it with
    another model (`dataclasses.replace`) holds that model's where this one held its model's.
    """

    dataset: str = hparam(
        "digits", "digits (scikit-learn's, offline: the demo), cifar10, cinic10 (cinic) or svhn"
    )
    trials: int = hparam(
        20, "independent IMP trials", minimum=1, maximum=MAX_TRIALS, label="TRIALS", identifies=False
    )
    seed: int = hparam(
        0,
        "trial k's θ0 derives from (seed, k) only; so do its batch order and random ticket",
        minimum=0,
        label="SEED",
    )
    training: TrainingHparams = field(default_factory=TrainingHparams)
    pruning: PruningHparams = field(default_factory=PruningHparams)
    winning_tolerance: float = hparam(
        1.0,
        "a ticket wins if its accuracy >= the dense network's minus this many points (and the dense "
        "network is clearly above chance)",
        minimum=0,
        label="the winning tolerance",
    )
    train_splits: str = hparam(
        "train", "which splits to train on (train+valid: CINIC-10 only)", choices=("train", "train+valid")
    )
    model: str = hparam(
        "conv2",
        "the network (lottery.models): conv2 is the paper's; conv4, conv6, lenet300 Frankle & Carbin's "
        "others; toy a tiny chain for tests and demos",
    )
    # An option of the run, not a hyperparameter of the ticket: not logged and out of `config_id`, so a
    # re-run that names more controls trains them in the configuration's finished runs.
    controls: str = hparam(
        "random",
        "controls trained on each final ticket, comma-separated: random (random mask), reinit (weights "
        "redrawn), signs (magnitudes redrawn, signs kept), flipped (signs flipped)",
        param=None,
    )

    def __post_init__(self) -> None:
        """UserError for a value out of bounds (the nested hyperparameters check theirs when built); then the
        rates left to the model are filled in with this model's."""
        check_bounds(self)
        object.__setattr__(self, "pruning", self.pruning.with_default_rates(default_rates(self.model)))

    def doubts(self) -> list[str]:
        """One line for each legal value that would likely waste the run (a guard rail, warned about)."""
        doubts = []
        lr = self.training.lr
        if not ADAM_LR[0] <= lr <= ADAM_LR[1]:
            doubts.append(
                f"LR {lr:g} lies outside {ADAM_LR[0]:g}..{ADAM_LR[1]:g}, where Adam trains these networks "
                "(the paper: 2e-4): the dense network may diverge or stay at chance"
            )
        if self.winning_tolerance > MAX_TOLERANCE:
            doubts.append(
                f"a winning tolerance of {self.winning_tolerance:g} points calls a ticket winning far below "
                "the dense network (the paper: 1)"
            )
        return doubts

    def batch_doubts(self, train_images: int) -> list[str]:
        """The guard rails of the batch against the `train_images` of the train split: UserError for a batch
        larger than the split (every epoch one full-batch step); a line if an epoch has under `MIN_STEPS`
        steps."""
        batch = self.training.batch_size
        if batch > train_images:
            raise UserError(
                f"BATCH_SIZE {batch} exceeds the {train_images:,} images of the {self.dataset} train split: "
                f"every epoch would be one step; choose BATCH_SIZE <= {train_images} (the paper: 60)"
            )
        steps = -(-train_images // batch)
        if steps >= MIN_STEPS:
            return []
        return [
            f"BATCH_SIZE {batch} makes {steps} optimizer step(s) an epoch on {train_images:,} images: rounds "
            "may end before the network learns (the paper: 60)"
        ]

    def describe(self) -> str:
        """The configuration in one line, `dataset digits · model conv2 · trials 3 · …`: what make train's
        variables set, then any other hyperparameter (TRAIN_ARGS) that differs from its default for the
        model."""
        shown = {
            "dataset": self.dataset,
            "model": self.model,
            "trials": self.trials,
            "rounds": self.pruning.rounds,
            "epochs": self.training.epochs,
            "batch": self.training.batch_size,
            "lr": f"{self.training.lr:g}",
            "controls": self.controls,
            "seed": self.seed,
        }
        default = ExperimentConfig(model=self.model)._others()
        shown.update((key, value) for key, value in self._others().items() if value != default[key])
        return " · ".join(f"{key} {value}" for key, value in shown.items())

    def _others(self) -> dict[str, Any]:
        """The hyperparameters make train has no variable for."""
        training, pruning = self.training, self.pruning
        return {
            "bf16": training.bf16,
            **{f"{group}_rate": pruning.rate(group) for group in RATE_GROUPS},
            "rewind_step": pruning.rewind_step,
            "winning_tolerance": self.winning_tolerance,
            "train_splits": self.train_splits,
        }

    def params(self) -> dict[str, str]:
        """Every hyperparameter, flat, as logged to MLflow: each logged field by its name (the nested ones'
        too), then the protocol's fixed choices, θ0's initialisation and the optimizer."""
        flat: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, TrainingHparams | PruningHparams):
                flat |= asdict(value)
            elif logged_name(f) is not None:
                flat[logged_name(f)] = value
        return {key: str(value) for key, value in {**flat, **PROTOCOL}.items()}

    def config_id(self) -> str:
        """A digest of everything that determines a trial's result (not the number of trials)."""
        return config_digest(self.params())


# Logged with the hyperparameters, never varied.
PROTOCOL = {contract.PARAM_INIT: "glorot_normal", contract.PARAM_OPTIMIZER: "adam"}


def config_digest(params: Mapping[str, str]) -> str:
    """The `lottery.config` tag of runs with these `params`: a digest of those that tell configurations
    apart (all but the number of trials). A hyperparameter added since the first stores enters it only when
    it differs from its default, so configurations that predate it keep their digest (and their stores
    resume)."""
    every = [f for cls in (ExperimentConfig, TrainingHparams, PruningHparams) for f in fields(cls)]
    ignored = {f.name for f in every if not f.metadata.get(IDENTIFIES, True)}
    added = {f.name: str(default_of(f)) for f in every if f.metadata.get(ADDED_SINCE)}
    kept = {k: v for k, v in params.items() if k not in ignored and added.get(k) != v}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]
