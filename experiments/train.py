"""Find winning tickets: `python -m experiments.train --dataset cinic` (what `make train` runs)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, UserError, exit_on_user_error, print_error
from lottery.execution.ray_settings import RaySettings
from lottery.hparams import ExperimentConfig
from lottery.models import MODELS
from lottery.options import add_options, build, hparam
from lottery.pruning.controls import selected
from lottery.tracking.uris import resolve_tracking_uri, where_to_browse

if TYPE_CHECKING:
    from lottery.execution.trial import TrialOutcome


@dataclass(frozen=True)
class Placement:
    """Where the experiment reads its data and records its runs, how it shows progress, where trials run."""

    data_dir: str = hparam("data", "where the datasets live: $DATA_DIR if set", env="DATA_DIR")
    tracking_uri: str | None = hparam(
        None, "the tracking store (None: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db)"
    )
    progress_bar: bool | None = hparam(
        None,
        "progress bars, or (--no-progress-bar) a line per round and per epoch; None: bars only when "
        "stdout is a terminal",
    )
    executor: str = hparam(
        "local",
        "local: one after another in this process; ray: every trial a Ray task (options below)",
        choices=("local", "ray"),
    )


@dataclass(frozen=True)
class Invocation:
    """What `python -m experiments.train` was asked to do."""

    config: ExperimentConfig
    data_dir: str
    tracking_uri: str | None
    ray: RaySettings | None  # None: trials one after another in this process
    progress: bool | None  # progress bars; None: only when stdout is a terminal


def parser() -> ArgumentParser:
    """The command line, derived from dataclasses that hold each option's default, help and bounds: the
    hyperparameters (`ExperimentConfig`), where it runs (`Placement`), and the Ray executor's settings."""
    p = ArgumentParser(
        prog="python -m experiments.train",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_options(p, ExperimentConfig, "experiment", choices={"model": list(MODELS)})
    add_options(p, Placement, "data, tracking, output and executor")
    add_options(p, RaySettings, "the Ray executor (--executor ray)")
    return p


def parse(argv: list[str] | None) -> Invocation:
    args = parser().parse_args(argv)
    config = build(ExperimentConfig, args)
    config = replace(config, dataset=canonical_name(config.dataset))
    selected(config.controls)  # an unknown control fails here, in a second
    placement = build(Placement, args)
    ray_settings = build(RaySettings, args) if placement.executor == "ray" else None
    return Invocation(
        config, placement.data_dir, placement.tracking_uri, ray_settings, placement.progress_bar
    )


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
