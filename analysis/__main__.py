"""Analyse the tickets in the tracking store and log the results back: `python -m analysis` (`make analyze`).

Each model's tickets are analysed on their own, one analysis run per model (`--model` picks one).

The store is $MLFLOW_TRACKING_URI (SQLite, PostgreSQL or an http(s):// server), else
sqlite:///mlruns/mlflow.db. Artifacts in a local folder are read where they are; those anywhere else (a
server's mlflow-artifacts:, s3, gs, …) are downloaded once and kept in a local cache keyed by run id
($LOTTERY_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/lottery/tickets).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from analysis.pipeline import NoBaseline, analyse
from analysis.reporting.report import log_analysis
from analysis.reporting.tables import format_controls, format_table_1
from analysis.settings import Settings
from analysis.tickets.cache import TicketCache, default_root
from analysis.tickets.loading import load_tickets, local_folder, needs_cache
from analysis.tickets.selection import of_model, select_models, select_runs
from analysis.tickets.store import TrialRun, finished_trial_runs
from lottery.data.registry import canonical_name
from lottery.errors import ArgumentParser, UserError, exit_on_user_error
from lottery.options import add_options, build, hparam
from lottery.tracking import contract, store, uris

PROG = "python -m analysis"


@dataclass(frozen=True)
class Invocation:
    """What `python -m analysis` was asked to do: the analysis's `settings` (datasets and model: those of the
    store, unless named), and where the tickets whose artifacts are not local files are cached."""

    settings: Settings = field(default_factory=Settings)
    cache_dir: Path | None = hparam(
        None,
        "where tickets whose artifacts are not local files (a server's, s3, …) are cached (None: "
        "$LOTTERY_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/lottery/tickets)",
        metavar="DIR",
    )
    no_cache: bool = hparam(False, "download the tickets whose artifacts are not local files without caching")

    def __post_init__(self) -> None:
        if self.no_cache and self.cache_dir is not None:
            raise UserError(
                f"argument --no-cache: not allowed with argument --cache-dir (see `{PROG} --help`)"
            )


def parser() -> ArgumentParser:
    """The command line, derived from `Invocation` and the analysis's `Settings`, which hold each option's
    default, help and bounds."""
    p = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_options(p, Invocation, "ticket cache")
    return p


def parse(argv: list[str] | None) -> Invocation:
    return build(Invocation, parser().parse_args(argv))


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


def ticket_cache_for(runs: Sequence[TrialRun], invocation: Invocation) -> TicketCache | None:
    """The ticket cache for reading `runs`: None (no folder made) where every run's artifacts are in a local
    folder, read in place (`needs_cache`), or with --no-cache."""
    if invocation.no_cache or not needs_cache(runs):
        return None
    return TicketCache(invocation.cache_dir or default_root())


def cache_summary(runs: Sequence[TrialRun], cache: TicketCache) -> str:
    """Where the tickets of `runs` came from, read through `cache`: `tickets of 3 runs: 5 artifacts
    downloaded, 3 from the cache in DIR`, and how many runs were read in place if any."""
    in_place = sum(local_folder(run) is not None for run in runs)
    summary = (
        f"tickets of {len(runs)} runs: {cache.downloaded} artifacts downloaded, {cache.cached} from the "
        f"cache in {cache.root}"
    )
    return summary + (f"; those of {in_place} runs read in place" if in_place else "")


def analyse_model(
    client, model: str, runs: Sequence[TrialRun], invocation: Invocation, notes: Sequence[str]
) -> None:
    """Analyse the tickets of one model's trial `runs` as `invocation` asks (the datasets asked for,
    canonical), log the analysis run, print its tables."""
    settings = invocation.settings
    datasets, runs, selection_notes = select_runs(runs, settings.datasets, settings.configs)
    notes = [*notes, *selection_notes]
    for note in selection_notes:
        print(note)
    print(
        f"loading the tickets of {len(runs)} {model} trial runs ({', '.join(datasets)}) "
        f"from {client.tracking_uri}"
    )
    cache = ticket_cache_for(runs, invocation)
    tickets, layer_names = load_tickets(client, runs, cache)
    if cache is not None:
        print(cache_summary(runs, cache))
    settings = replace(settings, datasets=tuple(datasets), model=model)
    analysis = analyse(tickets, settings, layer_names, runs=runs)
    run_id = log_analysis(client, analysis, runs, notes + analysis.notes)
    table = format_table_1(analysis.stats, settings.alpha) or "no condition had enough tickets for Table 1"
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
    invocation = parse(argv)
    requested, merged = distinct_datasets(invocation.settings.datasets)
    for note in merged:
        print(note)
    # The tickets are read from an existing store: a mistyped SQLite path is refused, not created empty.
    client = store.connect(create=False)
    runs = finished_trial_runs(client)
    models, notes = select_models(runs, invocation.settings.model, requested)
    invocation = replace(invocation, settings=replace(invocation.settings, datasets=tuple(requested)))
    for note in notes:
        print(note)
    analysed = 0
    for index, model in enumerate(models):
        if len(models) > 1:
            if index:
                print()
            print(f"model {model}: analysis {index + 1} of {len(models)}")
        try:
            analyse_model(client, model, of_model(runs, model), invocation, notes)
            analysed += 1
        except NoBaseline as error:
            if analysed or index + 1 < len(models):
                print(error)  # the other models' analyses stand
            else:
                raise


if __name__ == "__main__":
    main()
