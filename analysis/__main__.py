"""Analyse the tickets in the tracking store and log the results back: `python -m analysis` (`make analyze`).

Each model's tickets are analysed on their own, one analysis run per model (`--model` picks one).

The store is $MLFLOW_TRACKING_URI (SQLite or an http(s):// server), else sqlite:///mlruns/mlflow.db.
From a server, the tickets' artifacts are downloaded once and kept in a local cache keyed by run id
($LOTTERY_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/lottery/tickets).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from analysis.distances.nnstd import TIES
from analysis.pipeline import NoBaseline, Settings, analyse
from analysis.reporting.report import log_analysis
from analysis.reporting.tables import format_controls, format_table_1
from analysis.tickets.cache import TicketCache, default_root
from analysis.tickets.store import (
    TrialRun,
    finished_trial_runs,
    load_tickets,
    of_model,
    select_models,
    select_runs,
)
from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, exit_on_user_error
from lottery.tracking import contract, store, uris

DEFAULTS = Settings(datasets=())  # every default lives in Settings
MAX_PAIRS = 10_000  # per condition: 10 conditions of 10,000 pairs take hours already
MAX_DRAWS = 1_000  # per direction and pair: 1000 already costs minutes per pair where ties abound


def _count(low: int, high: int | None = None):
    """An argparse type: an integer from `low` to `high` (no upper bound if `high` is None)."""
    wanted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    return count


def _fraction(*, closed: bool):
    """An argparse type: a number in [0, 1] if `closed`, else in (0, 1)."""
    wanted = "from 0 to 1" if closed else "strictly between 0 and 1"

    def fraction(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not (0 <= value <= 1 if closed else 0 < value < 1):
            raise argparse.ArgumentTypeError(f"must be a number {wanted}, not {text!r}")
        return value

    return fraction


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="datasets to analyse; aliases work, a repeated name counts once "
        "(default: every dataset with tickets in the store)",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="analyse only the tickets of this model, one of those with trial runs in the store "
        "(default: each model in turn, one analysis run each)",
    )
    parser.add_argument(
        "--config",
        nargs="+",
        default=(),
        metavar="ID",
        help="the configuration to analyse where a dataset's trial runs hold several: its id (tag "
        "lottery.config) or the id's first characters, one per dataset (default: each dataset's with the "
        "most runs)",
    )
    parser.add_argument(
        "--pairs",
        type=_count(1, MAX_PAIRS),
        default=DEFAULTS.pairs,
        help=f"pairs drawn per condition, 1 to {MAX_PAIRS} (default {DEFAULTS.pairs})",
    )
    parser.add_argument(
        "--seed",
        type=_count(0),
        default=DEFAULTS.seed,
        help=f"seed of the pair, pattern-group and tie draws, an integer >= 0 (default {DEFAULTS.seed})",
    )
    parser.add_argument(
        "--alpha",
        type=_fraction(closed=False),
        default=DEFAULTS.alpha,
        help=f"significance level of the Holm-adjusted ticket-level p-values (default {DEFAULTS.alpha})",
    )
    parser.add_argument(
        "--ties",
        choices=TIES,
        default=DEFAULTS.ties,
        help="where a layer has several optimal matchings: average the distances over matchings drawn among "
        "them, symmetric in the two tickets (default), or take scipy's first, as the paper and Liu et al.",
    )
    parser.add_argument(
        "--tie-draws",
        type=_count(1, MAX_DRAWS),
        default=DEFAULTS.tie_draws,
        metavar="R",
        help=f"draws per direction and pair for --ties average, 1 to {MAX_DRAWS} "
        f"(default {DEFAULTS.tie_draws})",
    )
    parser.add_argument(
        "--positive-weight",
        type=_fraction(closed=True),
        default=DEFAULTS.positive_weight,
        metavar="W",
        help="NED± = W · NED(G⁺, H⁺) + (1 − W) · NED(G⁻, H⁻), W from 0 to 1 "
        f"(default {DEFAULTS.positive_weight}: the paper's NED±)",
    )
    parser.add_argument(
        "-K",
        "--k",
        type=_count(1),
        dest="k",
        metavar="K",
        help="at most K tickets per pattern group, K >= 1 (default: all)",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where tickets from a tracking server are cached "
        "(default: $LOTTERY_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/lottery/tickets)",
    )
    cache.add_argument(
        "--no-cache", action="store_true", help="download the tickets from a tracking server without caching"
    )
    return parser.parse_args(argv)


def distinct_datasets(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The canonical names of `names`, each once in order of first mention, and a note per name repeated
    (aliases and case variants included); UserError for an unknown name."""
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(canonical_name(name), []).append(name)
    notes = []
    for dataset, given in spellings.items():
        if len(given) > 1:
            times = "twice" if len(given) == 2 else f"{len(given)} times"
            notes.append(f"note: --datasets names {dataset} {times} ({', '.join(given)}); analysed once")
    return list(spellings), notes


def ticket_cache_for(uri: str, args: argparse.Namespace) -> TicketCache | None:
    """The ticket cache for store `uri`: None for a local store, whose artifacts are local files already."""
    if args.no_cache or not uris.is_remote(uri):
        return None
    return TicketCache(args.cache_dir or default_root())


def analyse_model(
    client,
    model: str,
    runs: Sequence[TrialRun],
    requested: Sequence[str],
    args: argparse.Namespace,
    cache: TicketCache | None,
    notes: Sequence[str],
) -> None:
    """Analyse the tickets of one model's trial `runs`, log the analysis run, print its tables."""
    datasets, runs, selection_notes = select_runs(runs, requested, args.config)
    notes = [*notes, *selection_notes]
    for note in selection_notes:
        print(note)
    print(
        f"loading the tickets of {len(runs)} {model} trial runs ({', '.join(datasets)}) "
        f"from {client.tracking_uri}"
    )
    before = (cache.downloaded, cache.cached) if cache is not None else (0, 0)
    tickets, layer_names = load_tickets(client, runs, cache)
    if cache is not None:
        print(
            f"tickets of {len(runs)} runs: {cache.downloaded - before[0]} artifacts downloaded, "
            f"{cache.cached - before[1]} from the cache in {cache.root}"
        )
    settings = Settings(
        tuple(datasets),
        pairs=args.pairs,
        seed=args.seed,
        alpha=args.alpha,
        k=args.k,
        ties=args.ties,
        tie_draws=args.tie_draws,
        positive_weight=args.positive_weight,
        model=model,
        configs=tuple(args.config),
    )
    analysis = analyse(tickets, settings, layer_names, runs=runs)
    run_id = log_analysis(client, analysis, runs, notes + analysis.notes)
    table = format_table_1(analysis.stats, args.alpha) or "no condition had enough tickets for Table 1"
    print(f"\n{table}\n")
    controls = format_controls(analysis.controls)
    if controls:
        print(f"{controls}\n")
    experiment_name = contract.ANALYSIS_EXPERIMENT
    print(f"logged as run {run_id} ({model}) in experiment '{experiment_name}' of {client.tracking_uri}")
    experiment = store.experiment_id(client, experiment_name)
    line = uris.where_to_browse(client.tracking_uri, experiment, run_id)
    if line is not None:
        print(line)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    requested, merged = distinct_datasets(args.datasets or [])
    for note in merged:
        print(note)
    # The tickets are read from an existing store: a mistyped SQLite path is refused, not created empty.
    client = store.connect(create=False)
    cache = ticket_cache_for(client.tracking_uri, args)
    runs = finished_trial_runs(client)
    models, notes = select_models(runs, args.model, requested)
    for note in notes:
        print(note)
    analysed = 0
    for index, model in enumerate(models):
        if len(models) > 1:
            if index:
                print()
            print(f"model {model}: analysis {index + 1} of {len(models)}")
        try:
            analyse_model(client, model, of_model(runs, model), requested, args, cache, notes)
            analysed += 1
        except NoBaseline as error:
            if analysed or index + 1 < len(models):
                print(error)  # the other models' analyses stand
            else:
                raise


if __name__ == "__main__":
    main()
