"""Which trial runs an analysis takes: one model at a time (tickets of different models are never analysed
together), the requested datasets in their canonical order, and per dataset one configuration: the one
`--config` names, else the one with the most runs (ties: the most recently started), the others reported;
if a trial has several finished runs, the newest counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from analysis.tickets.store import TrialRun
from lottery.data.registry import DATASETS
from lottery.errors import UserError
from lottery.models import MODELS


def require_distinct(datasets: Sequence[str]) -> None:
    """ValueError if `datasets` names a dataset twice, which would pair its tickets as if from two datasets
    (callers merge repeats first: the CLI canonicalises and merges --datasets)."""
    repeated = [name for name, count in Counter(datasets).items() if count > 1]
    if repeated:
        raise ValueError(f"datasets {list(datasets)} repeat {', '.join(repeated)}; pass each dataset once")


def _ordered(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """`names` once each: those in `known` in its order, then any others alphabetically."""
    known = list(known)
    return sorted(set(names), key=lambda name: (known.index(name) if name in known else len(known), name))


def dataset_order(names: Sequence[str]) -> list[str]:
    """Known datasets in their canonical order, then any others alphabetically."""
    return _ordered(names, DATASETS)


def of_model(runs: Sequence[TrialRun], model: str) -> list[TrialRun]:
    return [run for run in runs if run.model == model]


def select_models(
    runs: Sequence[TrialRun], model: str | None, datasets: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """(the models to analyse, one at a time, messages): `model` if given, else every model with trial runs
    (registered models in registry order, then others alphabetically).

    UserError if `model` has no runs. Without `model`, a model lacking runs of a requested dataset is left out
    with a message when another has them all (UserError if none does); a single model is left to
    `select_runs`, which names the datasets it lacks.
    """
    available = _ordered([run.model for run in runs], MODELS)
    if model is not None:
        if model not in available:
            raise UserError(
                f"no finished trial runs of model {model}; the store has {', '.join(available)} "
                "— pick one of them with --model, or leave --model out to analyse each"
            )
        return [model], []
    if not datasets or len(available) == 1:
        return available, []
    lacking = {m: [d for d in datasets if d not in {r.dataset for r in of_model(runs, m)}] for m in available}
    chosen = [m for m in available if not lacking[m]]
    if not chosen:
        which = "; ".join(f"{m} lacks {', '.join(missing)}" for m, missing in lacking.items())
        raise UserError(
            f"no model has finished trial runs of every dataset in --datasets ({which}); "
            "name datasets that one model has, or pick a model with --model"
        )
    messages = [
        f"model {m} skipped: no finished trial runs of {', '.join(missing)}"
        for m, missing in lacking.items()
        if missing
    ]
    return chosen, messages


def _chosen_config(dataset: str, counts: Counter, newest: Mapping[str, int], asked: Sequence[str]) -> str:
    """The configuration of `dataset` one of `asked` names (by its id or a prefix of it), else the one with
    the most runs (ties: the most recently started). UserError for a prefix that names several."""
    named = {ask: sorted(config for config in counts if config.startswith(ask)) for ask in asked}
    for ask, configs in named.items():
        if len(configs) > 1:
            raise UserError(
                f"--config {ask} names several configurations of {dataset} ({', '.join(configs)}); "
                "give more of the id"
            )
    chosen = [configs[0] for configs in named.values() if configs]
    return chosen[0] if chosen else max(counts, key=lambda c: (counts[c], newest[c]))


def select_runs(
    runs: Sequence[TrialRun], datasets: Sequence[str] | None, configs: Sequence[str] = ()
) -> tuple[list[str], list[TrialRun], list[str]]:
    """(datasets, the runs analysed, messages): one configuration per dataset, the newest run per trial.

    `runs` must be of one model (`of_model`). `datasets` None means every dataset with trial runs; otherwise
    distinct names (ValueError if not). UserError if a requested dataset has none. `configs`: configuration
    ids (or prefixes) to use, each for the dataset whose runs carry it (UserError for one no dataset has).
    """
    require_distinct(datasets or ())
    if len({run.model for run in runs}) > 1:
        raise ValueError(f"runs of several models {sorted({run.model for run in runs})}; select one model")
    available = dataset_order([run.dataset for run in runs])
    chosen = list(datasets) if datasets else available
    absent = [name for name in chosen if name not in available]
    if absent:
        raise UserError(
            f"no finished trial runs for dataset(s) {', '.join(absent)}; "
            f"the store has {', '.join(available)} "
            "— train them first (`make train DATASET=...`) or leave them out of --datasets"
        )
    unknown = [
        ask for ask in configs if not any(r.config.startswith(ask) for r in runs if r.dataset in chosen)
    ]
    if unknown:
        available = ", ".join(
            f"{d} {c}" for d, c in sorted({(r.dataset, r.config) for r in runs if r.dataset in chosen})
        )
        raise UserError(
            f"--config {' '.join(unknown)}: no trial runs of that configuration; the store has {available}"
        )
    selected, messages = [], []
    for dataset in chosen:
        of_dataset = [run for run in runs if run.dataset == dataset]
        counts = Counter(run.config for run in of_dataset)
        newest = {config: max(r.start_time for r in of_dataset if r.config == config) for config in counts}
        config = _chosen_config(dataset, counts, newest, configs)
        if len(counts) > 1:
            others = ", ".join(f"{c} ({n} runs)" for c, n in counts.items() if c != config)
            why = (
                "--config"
                if any(config.startswith(ask) for ask in configs)
                else "the most; --config ID picks another"
            )
            messages.append(
                f"{dataset}: trial runs of {len(counts)} configurations; using {config} "
                f"({counts[config]} runs, {why}), ignoring {others}"
            )
        by_trial: dict[int, TrialRun] = {}
        for run in sorted((r for r in of_dataset if r.config == config), key=lambda r: r.start_time):
            by_trial[run.trial] = run
        duplicates = counts[config] - len(by_trial)
        if duplicates:
            messages.append(f"{dataset}: {duplicates} older duplicate run(s) of the same trials ignored")
        selected += [by_trial[trial] for trial in sorted(by_trial)]
    return chosen, selected, messages
