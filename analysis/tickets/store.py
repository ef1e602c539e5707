"""Trial runs in the tracking store and the tickets they hold (the tracking contract of `lottery.tracking`).

Trial runs are found by tag (`lottery.role=trial`, status FINISHED) across every experiment of the store and
grouped by model (param `model`; runs that predate it trained `conv2`): tickets of different models are
never analysed together. Within a model, when a dataset's runs carry several `lottery.config` values, the
configuration with the most runs is used (ties: the most recently started one) and the others are reported;
if a trial has several finished runs, the newest counts. Each run gives its random ticket and, when tagged
`lottery.winning=true`, its winning ticket; both share the run's θ0 and `lottery.init`, and both take their
signs from θ_k, the weights every round reset to: `ticket/rewind.npz` for a run tagged `lottery.rewind_step`
= k > 0 (late rewinding), θ0's `ticket/init.npz` otherwise. Each run also carries its final test accuracies
as the run lists them (`test_acc` and every control's `<control>_test_acc`): MLflow keeps per metric the
value of the highest step, which for a finished trial of R rounds is step R. Artifacts are downloaded
through MLflow (or taken from a `TicketCache`) and read without pickle.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.tickets.cache import TicketCache
from analysis.tickets.signed import RANDOM, WINNING, Ticket, signed_layers
from lottery.data.registry import DATASETS
from lottery.errors import UserError
from lottery.models import MODELS
from lottery.tracking import contract, store
from lottery.tracking.arrays import load_arrays

MASK_ARTIFACTS = {WINNING: contract.WINNING_MASK_ARTIFACT, RANDOM: contract.RANDOM_MASK_ARTIFACT}
_REQUIRED_TAGS = (
    contract.TAG_DATASET,
    contract.TAG_TRIAL,
    contract.TAG_INIT,
    contract.TAG_CONFIG,
    contract.TAG_WINNING,
)


@dataclass(frozen=True)
class TrialRun:
    """A finished trial run: where it is, what it trained, and its final test accuracies (`accuracies`:
    metric name → value at step R, for `test_acc` and each `<control>_test_acc` the run logged)."""

    run_id: str
    name: str
    artifact_uri: str
    model: str
    dataset: str
    trial: int
    init: str
    config: str
    winning: bool
    rewind_step: int
    start_time: int
    accuracies: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def source(self) -> str:
        return store.run_source(self.name, self.run_id)

    @property
    def weights_artifact(self) -> str:
        """The artifact holding θ_k, whose signs the tickets carry: θ0's unless the run rewound late."""
        return contract.REWIND_ARTIFACT if self.rewind_step else contract.INIT_ARTIFACT


def all_pages(fetch: Callable) -> list:
    items, token = [], None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def is_accuracy_metric(name: str) -> bool:
    """`test_acc` or a control's `<control>_test_acc`."""
    return name == contract.TEST_ACC or name.endswith(f"_{contract.TEST_ACC}")


def _trial_run(run) -> TrialRun:
    tags, name = run.data.tags, run.info.run_name or run.info.run_id
    missing = [tag for tag in _REQUIRED_TAGS if tag not in tags]
    rewind = tags.get(contract.TAG_REWIND_STEP, "0")
    if (
        missing
        or not tags[contract.TAG_TRIAL].isdigit()
        or tags[contract.TAG_WINNING] not in ("true", "false")
        or not rewind.isdigit()
    ):
        checked = (*_REQUIRED_TAGS, contract.TAG_REWIND_STEP)
        raise UserError(
            f"run {name} ({run.info.run_id}) is tagged as a trial but its tags {missing or checked} "
            "are missing or malformed; delete the run or re-run the trial that produced it"
        )
    return TrialRun(
        run_id=run.info.run_id,
        name=name,
        artifact_uri=run.info.artifact_uri,
        model=run.data.params.get(contract.PARAM_MODEL, contract.LEGACY_MODEL),
        dataset=tags[contract.TAG_DATASET],
        trial=int(tags[contract.TAG_TRIAL]),
        init=tags[contract.TAG_INIT],
        config=tags[contract.TAG_CONFIG],
        winning=tags[contract.TAG_WINNING] == "true",
        rewind_step=int(rewind),
        start_time=run.info.start_time or 0,
        # search_runs gives each metric's value at its highest step: step R of a finished trial
        accuracies={key: value for key, value in run.data.metrics.items() if is_accuracy_metric(key)},
    )


def finished_trial_runs(client) -> list[TrialRun]:
    """Every FINISHED trial run in every experiment of the store; UserError if there is none."""
    experiments = all_pages(lambda token: client.search_experiments(page_token=token))
    query = f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_TRIAL}' and attributes.status = 'FINISHED'"
    ids = [experiment.experiment_id for experiment in experiments]
    runs = (
        all_pages(lambda token: client.search_runs(ids, filter_string=query, page_token=token)) if ids else []
    )
    if not runs:
        raise UserError(
            f"the tracking store {client.tracking_uri} holds no finished trial runs; train tickets first "
            "(`make train`) or point MLFLOW_TRACKING_URI at the store that has them"
        )
    return [_trial_run(run) for run in runs]


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


def _read(
    client, run: TrialRun, artifact: str, layer_names: Sequence[str] | None, dtype, cache: TicketCache | None
) -> dict[str, np.ndarray]:
    """One of the run's .npz artifacts read without pickle, through `cache` or downloaded for this read."""

    def read(path: Path) -> dict[str, np.ndarray]:
        return load_arrays(path, layer_names, dtype, source=run.source)

    if cache is not None:
        return cache.read(client, run, artifact, read)
    with tempfile.TemporaryDirectory() as directory:
        return read(store.download_artifact(client, run, artifact, directory))


def load_tickets(
    client, runs: Sequence[TrialRun], cache: TicketCache | None = None
) -> tuple[list[Ticket], tuple[str, ...]]:
    """Each run's random ticket and, if it won, its winning ticket, and the names of their layers in forward
    order — as the tickets hold them (the keys of θ_k's `.npz`), whatever the model, chain or not
    (`analysis.distances.incoming.chain_problem`). The signs are those of θ_k (`TrialRun.weights_artifact`).
    UserError naming a run on bad files, or on runs of different architectures.

    With a `cache`, artifacts are read from it and downloaded only on a miss; without, each is downloaded.
    """
    tickets: list[Ticket] = []
    shapes, layer_names = None, None
    for run in runs:
        kinds = (WINNING, RANDOM) if run.winning else (RANDOM,)
        weights = _read(client, run, run.weights_artifact, layer_names, np.float32, cache)
        layer_names = layer_names or tuple(weights)
        masks = {
            kind: _read(client, run, MASK_ARTIFACTS[kind], layer_names, np.bool_, cache) for kind in kinds
        }
        run_shapes = [weights[name].shape for name in layer_names]
        for kind, mask in masks.items():
            if [mask[name].shape for name in layer_names] != run_shapes:
                raise UserError(
                    f"{run.source}: {MASK_ARTIFACTS[kind]} does not match the shapes of "
                    f"{run.weights_artifact}; re-run the trial that produced it"
                )
        shapes = shapes or run_shapes
        if run_shapes != shapes:
            raise UserError(
                f"{run.source}: layer shapes {run_shapes} differ from the other runs' {shapes}; "
                "analyse one architecture at a time (--model, --datasets)"
            )
        tickets += [
            Ticket(
                run.dataset,
                run.trial,
                kind,
                run.init,
                run.run_id,
                signed_layers(weights, masks[kind], layer_names),
            )
            for kind in kinds
        ]
    return tickets, layer_names or ()
