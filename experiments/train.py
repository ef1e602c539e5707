"""Find winning tickets: `python -m experiments.train --dataset cinic` (what `make train` runs)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, UserError, exit_on_user_error
from lottery.execution.ray_settings import RaySettings
from lottery.hparams import (
    MAX_EPOCHS,
    MAX_ROUNDS,
    MAX_TRIALS,
    ExperimentConfig,
    PruningHparams,
    TrainingHparams,
)
from lottery.models import MODELS
from lottery.tracking.uris import resolve_tracking_uri

if TYPE_CHECKING:
    from lottery.execution.trial import TrialOutcome


@dataclass(frozen=True)
class Invocation:
    """What `python -m experiments.train` was asked to do."""

    config: ExperimentConfig
    data_dir: str
    tracking_uri: str | None
    ray: RaySettings | None  # None: trials one after another in this process
    progress: bool


def parse(argv: list[str] | None) -> Invocation:
    defaults_t, defaults_p, defaults_ray = TrainingHparams(), PruningHparams(), RaySettings()
    p = ArgumentParser(
        prog="python -m experiments.train",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="digits, cifar10, cinic10 (cinic) or svhn")
    p.add_argument("--trials", type=int, default=20, help=f"independent IMP trials, at most {MAX_TRIALS}")
    p.add_argument(
        "--rounds", type=int, default=defaults_p.rounds, help=f"pruning rounds, at most {MAX_ROUNDS}"
    )
    p.add_argument(
        "--epochs", type=int, default=defaults_t.epochs, help=f"epochs a round, at most {MAX_EPOCHS}"
    )
    p.add_argument("--batch-size", type=int, default=defaults_t.batch_size)
    p.add_argument("--lr", type=float, default=defaults_t.lr)
    p.add_argument("--seed", type=int, default=0, help="trial k's θ0 derives from (seed, k) only")
    p.add_argument(
        "--conv-rate", type=float, default=defaults_p.conv_rate, help="per-round fraction, conv layers"
    )
    p.add_argument(
        "--dense-rate", type=float, default=defaults_p.dense_rate, help="per-round fraction, dense"
    )
    p.add_argument(
        "--output-rate", type=float, default=defaults_p.output_rate, help="per-round fraction, output"
    )
    p.add_argument(
        "--winning-tolerance",
        type=float,
        default=1.0,
        help="a ticket wins if its accuracy >= the dense network's minus this many points (and the dense "
        "network is clearly above chance)",
    )
    p.add_argument(
        "--model",
        choices=list(MODELS),
        default="conv2",
        help="the network (lottery.models): conv2 is the paper's; toy is a tiny chain for tests and demos",
    )
    p.add_argument(
        "--train-splits",
        choices=["train", "train+valid"],
        default="train",
        help="which splits to train on (train+valid: CINIC-10 only)",
    )
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (mixed precision)")
    p.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "data"))
    p.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db"
    )
    p.add_argument("--no-progress-bar", action="store_true", help="only the per-round summary lines")
    ray = p.add_argument_group("executor", "where the trials run")
    ray.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one after another in this process; ray: every trial a Ray task",
    )
    ray.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS") or None,
        help="the Ray cluster to use (default: $RAY_ADDRESS; unset: start a local cluster)",
    )
    ray.add_argument(
        "--cpus-per-trial",
        type=float,
        default=defaults_ray.cpus_per_trial,
        help="CPUs (and torch threads) each trial takes",
    )
    ray.add_argument(
        "--gpus-per-trial",
        type=float,
        default=defaults_ray.gpus_per_trial,
        help="GPUs each trial takes (default: 0.25 when the cluster has GPUs, else 0)",
    )
    ray.add_argument(
        "--max-retries",
        type=int,
        default=defaults_ray.max_retries,
        help="times a trial whose worker died is retried",
    )
    args = p.parse_args(argv)
    config = ExperimentConfig(
        dataset=canonical_name(args.dataset),
        trials=args.trials,
        seed=args.seed,
        training=TrainingHparams(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, bf16=args.bf16),
        pruning=PruningHparams(
            rounds=args.rounds,
            conv_rate=args.conv_rate,
            dense_rate=args.dense_rate,
            output_rate=args.output_rate,
        ),
        winning_tolerance=args.winning_tolerance,
        train_splits=args.train_splits,
        model=args.model,
    )
    config.validate()
    ray_settings = None
    if args.executor == "ray":
        ray_settings = RaySettings(
            args.ray_address, args.cpus_per_trial, args.gpus_per_trial, args.max_retries
        )
        ray_settings.validate(resolve_tracking_uri(args.tracking_uri))
    return Invocation(config, args.data_dir, args.tracking_uri, ray_settings, not args.no_progress_bar)


def report(config: ExperimentConfig, outcomes: list[TrialOutcome]) -> None:
    """What this command trained and how the configuration stands; if trials failed, a line listing them and
    a non-zero exit: 2 (UserError) when each failed for a reason the user can fix, 1 when one crashed."""
    finished = [o for o in outcomes if o.error is None]
    failed = [o for o in outcomes if o.error is not None]
    winning = sum(o.winning for o in finished)
    at_chance = sum(o.verdict.dense_at_chance for o in finished)
    others = config.trials - len(outcomes)
    print(
        f"{config.dataset}: {len(finished)} trial(s) trained by this command, {winning} with a winning ticket"
        + (f"; {others} finished earlier or by another driver" if others else "")
    )
    if at_chance:
        print(
            f"warning: in {at_chance} of {len(finished)} trials the dense network stayed at chance, so their "
            f"tickets are not winning (lottery.verdict=dense_at_chance); check the learning rate (LR "
            f"{config.training.lr:g})",
            file=sys.stderr,
        )
    if failed:
        listing = "; ".join(f"{o.task.label}: {o.error}" for o in failed)
        summary = (
            f"{len(failed)} of {len(outcomes)} trials failed ({listing}); fix the cause and re-run the same "
            "command: finished trials are skipped, the others resume"
        )
        if any(o.crashed for o in failed):  # a bug or a crash, its traceback above: not the user's doing
            print(f"error: {summary}", file=sys.stderr)
            raise SystemExit(1)
        raise UserError(summary)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    invocation = parse(argv)
    # Lightning, MLflow and Ray load only once the arguments are valid: a typo fails in a second.
    from lottery.execution.experiment import run_experiment

    outcomes = run_experiment(
        invocation.config,
        invocation.data_dir,
        invocation.tracking_uri,
        invocation.ray,
        show_progress=invocation.progress,
    )
    report(invocation.config, outcomes)


if __name__ == "__main__":
    main()
