"""Typed hyperparameters of an IMP experiment; the defaults are Frankle & Carbin (2019)'s Conv-2 protocol."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from lottery.errors import UserError

# Bounds on counts that would otherwise run for months or flood the store (the paper: 20 trials, 11 rounds,
# 10 epochs); --help states them.
MAX_TRIALS = 1000
MAX_ROUNDS = 100
MAX_EPOCHS = 1000


@dataclass(frozen=True)
class TrainingHparams:
    """Adam at learning rate `lr`, `batch_size` images a step, `epochs` a round, optional bf16 autocast."""

    epochs: int = 10
    batch_size: int = 60
    lr: float = 2e-4
    bf16: bool = False


@dataclass(frozen=True)
class PruningHparams:
    """Per-round fractions of each layer group's *remaining* weights to prune; `rounds` after round 0."""

    rounds: int = 11
    conv_rate: float = 0.1
    dense_rate: float = 0.2
    output_rate: float = 0.1

    def rate(self, group: str) -> float:
        """The rate of a layer group (`conv`, `dense` or `output`, as each model declares its layers)."""
        return getattr(self, f"{group}_rate")


@dataclass(frozen=True)
class ExperimentConfig:
    """`trials` independent IMP trials of `model` on `dataset`; trial k's θ0 derives from (`seed`, k) only.

    A trial's final ticket is winning when its test accuracy ≥ the dense network's minus
    `winning_tolerance` percentage points.
    """

    dataset: str
    trials: int = 20
    seed: int = 0
    training: TrainingHparams = field(default_factory=TrainingHparams)
    pruning: PruningHparams = field(default_factory=PruningHparams)
    winning_tolerance: float = 1.0
    train_splits: str = "train"
    model: str = "conv2"

    def validate(self) -> None:
        checks = [
            (1 <= self.trials <= MAX_TRIALS, f"TRIALS must lie in 1..{MAX_TRIALS}, got {self.trials}"),
            (
                0 <= self.pruning.rounds <= MAX_ROUNDS,
                f"ROUNDS must lie in 0..{MAX_ROUNDS}, got {self.pruning.rounds}",
            ),
            (
                1 <= self.training.epochs <= MAX_EPOCHS,
                f"EPOCHS must lie in 1..{MAX_EPOCHS}, got {self.training.epochs}",
            ),
            (self.training.batch_size >= 1, f"BATCH_SIZE must be >= 1, got {self.training.batch_size}"),
            (
                0 < self.training.lr < math.inf,
                f"LR must be a finite number > 0, got {self.training.lr}",
            ),
            (
                self.winning_tolerance >= 0,
                f"the winning tolerance must be >= 0, got {self.winning_tolerance}",
            ),
            (self.seed >= 0, f"SEED must be >= 0, got {self.seed}"),
        ]
        for group in ("conv", "dense", "output"):
            rate = getattr(self.pruning, f"{group}_rate")
            checks.append((0 < rate < 1, f"the {group} pruning rate must lie in (0, 1), got {rate}"))
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def params(self) -> dict[str, str]:
        """Every hyperparameter, flat, as logged to MLflow."""
        flat = {
            "dataset": self.dataset,
            "trials": self.trials,
            "seed": self.seed,
            **asdict(self.training),
            **asdict(self.pruning),
            "winning_tolerance": self.winning_tolerance,
            "train_splits": self.train_splits,
            "model": self.model,
            "init": "glorot_normal",
            "optimizer": "adam",
        }
        return {key: str(value) for key, value in flat.items()}

    def config_id(self) -> str:
        """A digest of everything that determines a trial's result (not the number of trials)."""
        params = {k: v for k, v in self.params().items() if k != "trials"}
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
