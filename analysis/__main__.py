"""Analyse the tickets in the tracking store and log the results back: `python -m analysis` (`make analyze`).

The store is $MLFLOW_TRACKING_URI (SQLite or an http(s):// server), else sqlite:///mlruns/mlflow.db.
From a server, the tickets' artifacts are downloaded once and kept in a local cache keyed by run id
($LOTTERY_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/lottery/tickets).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.pipeline import Settings, analyse
from analysis.report import ANALYSIS_EXPERIMENT, log_analysis
from analysis.store import finished_trial_runs, load_tickets, select_runs
from analysis.tables import format_table_1
from analysis.ticket_cache import TicketCache, default_root
from lottery import tracking
from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, exit_on_user_error
from lottery.layers import LAYER_NAMES


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, not {value}")
    return value


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument(
        "--datasets",
        nargs="+",
        type=canonical_name,
        metavar="NAME",
        help="datasets to analyse (default: every dataset with tickets in the store)",
    )
    parser.add_argument(
        "--pairs", type=_at_least_one, default=50, help="pairs drawn per condition (default 50)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the pair and pattern-group draws (default 0)"
    )
    parser.add_argument("--alpha", type=_probability, default=0.01, help="significance level (default 0.01)")
    parser.add_argument(
        "-K",
        "--k",
        type=_at_least_one,
        dest="k",
        metavar="K",
        help="at most K tickets per pattern group (default: all)",
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


def ticket_cache_for(uri: str, args: argparse.Namespace) -> TicketCache | None:
    """The ticket cache for store `uri`: None for a local store, whose artifacts are local files already."""
    if args.no_cache or not tracking.is_remote(uri):
        return None
    return TicketCache(args.cache_dir or default_root())


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    client = tracking.connect()
    cache = ticket_cache_for(client.tracking_uri, args)
    datasets, runs, notes = select_runs(finished_trial_runs(client), args.datasets)
    for note in notes:
        print(note)
    print(f"loading the tickets of {len(runs)} trial runs ({', '.join(datasets)}) from {client.tracking_uri}")
    tickets = load_tickets(client, runs, LAYER_NAMES, cache)
    if cache is not None:
        print(
            f"tickets of {len(runs)} runs: {cache.downloaded} artifacts downloaded, "
            f"{cache.cached} from the cache in {cache.root}"
        )
    settings = Settings(tuple(datasets), pairs=args.pairs, seed=args.seed, alpha=args.alpha, k=args.k)
    analysis = analyse(tickets, settings, LAYER_NAMES)
    run_id = log_analysis(client, analysis, runs, notes + analysis.notes)
    table = format_table_1(analysis.stats, args.alpha) or "no condition had enough tickets for Table 1"
    print(f"\n{table}\n")
    print(f"logged as run {run_id} in experiment '{ANALYSIS_EXPERIMENT}' of {client.tracking_uri}")


if __name__ == "__main__":
    main()
