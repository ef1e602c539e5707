"""Find winning tickets: `python -m experiments.train --dataset cinic` (what `make train` runs)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from experiments.options import add_options, build
from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, UserError, exit_on_user_error, print_error
from lottery.execution.ray_settings import RaySettings
from lottery.hparams import ExperimentConfig
from lottery.models import MODELS
from lottery.pruning.controls import selected
from lottery.tracking.uris import resolve_tracking_uri, where_to_browse

if TYPE_CHECKING:
    from lottery.execution.trial import TrialOutcome


@dataclass(frozen=True)
class Invocation:
    """What `python -m experiments.train` was asked to do."""

    config: ExperimentConfig
    data_dir: str
    tracking_uri: str | None
    ray: RaySettings | None  # None: trials one after another in this process
    progress: bool | None  # progress bars; None: only when stdout is a terminal


def parser() -> ArgumentParser:
    """The command line: an option for every hyperparameter, derived from `ExperimentConfig`'s fields (their
    defaults, help and bounds live there), then the options that say where and how it runs."""
    ray_defaults = RaySettings()
    p = ArgumentParser(
        prog="python -m experiments.train",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_options(p, ExperimentConfig, "experiment", choices={"model": list(MODELS)})
    where = p.add_argument_group("data, tracking and output")
    where.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or "data",
        help="where the datasets live: $DATA_DIR if set",
    )
    where.add_argument(
        "--tracking-uri",
        default=None,
        help="the tracking store (None: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)",
    )
    where.add_argument(
        "--progress-bar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars, or (--no-progress-bar) a line per round and per epoch; None: bars only when "
        "stdout is a terminal",
    )
    ray = p.add_argument_group("executor", "where the trials run")
    ray.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: one after another in this process; ray: every trial a Ray task",
    )
    ray.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS") or ray_defaults.address,
        help="the Ray cluster to use: $RAY_ADDRESS if set (None: start a local cluster)",
    )
    ray.add_argument(
        "--cpus-per-trial",
        type=float,
        default=ray_defaults.cpus_per_trial,
        help="CPUs (and torch threads) each trial takes",
    )
    ray.add_argument(
        "--gpus-per-trial",
        type=float,
        default=ray_defaults.gpus_per_trial,
        help="GPUs each trial takes (None: 0.25 when the cluster has GPUs, else 0)",
    )
    ray.add_argument(
        "--max-retries",
        type=int,
        default=ray_defaults.max_retries,
        help="times a trial whose worker died is retried",
    )
    return p


def parse(argv: list[str] | None) -> Invocation:
    args = parser().parse_args(argv)
    config = build(ExperimentConfig, args)
    config = replace(config, dataset=canonical_name(config.dataset))
    selected(config.controls)  # an unknown control fails here, in a second
    ray_settings = None
    if args.executor == "ray":
        ray_settings = RaySettings(
            args.ray_address, args.cpus_per_trial, args.gpus_per_trial, args.max_retries
        )
    return Invocation(config, args.data_dir, args.tracking_uri, ray_settings, args.progress_bar)


def report(config: ExperimentConfig, outcomes: list[TrialOutcome], browse: str | None = None) -> None:
    """What this command trained, how the configuration stands and where to browse it (`browse`); if trials
    failed, a line listing them and a non-zero exit: 2 (UserError) when each failed for a reason the user
    can fix, 1 when one crashed."""
    finished = [o for o in outcomes if o.error is None]
    failed = [o for o in outcomes if o.error is not None]
    winning = sum(o.winning for o in finished)
    at_chance = sum(o.verdict.dense_at_chance for o in finished)
    others = config.trials - len(outcomes)
    print(
        f"{config.dataset}: {len(finished)} trial(s) trained by this command, {winning} with a winning ticket"
        + (f"; {others} finished earlier or by another driver" if others else ""),
        flush=True,
    )
    if browse is not None:
        print(browse, flush=True)
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
            print_error(summary)
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
    report(invocation.config, outcomes, _where_to_browse(invocation))


def _where_to_browse(invocation: Invocation) -> str | None:
    """The line naming where the UI shows the dataset's trial runs (the experiment named after it)."""
    from lottery.tracking.client import StopSafeClient

    uri = resolve_tracking_uri(invocation.tracking_uri)
    experiment = StopSafeClient(uri).get_experiment_by_name(invocation.config.dataset)
    return None if experiment is None else where_to_browse(uri, experiment.experiment_id)


if __name__ == "__main__":
    main()
