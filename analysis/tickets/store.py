"""Trial runs in the tracking store and the tickets they hold (the tracking contract of `lottery.tracking`).

Trial runs are found by tag (`lottery.role=trial`, status FINISHED) across every experiment of the store.
When a dataset's runs carry several `lottery.config` values, the configuration with the most runs is used
(ties: the most recently started one) and the others are reported; if a trial has several finished runs,
the newest counts. Each run gives its random ticket and, when tagged `lottery.winning=true`, its winning
ticket; both share the run's θ0 and `lottery.init`. Artifacts are downloaded through MLflow (or taken from a
`TicketCache`) and read without pickle.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.distances.incoming import input_blocks
from analysis.tickets.cache import TicketCache
from analysis.tickets.signed import RANDOM, WINNING, Ticket, signed_layers
from lottery.data.registry import DATASETS
from lottery.errors import UserError
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
    run_id: str
    name: str
    dataset: str
    trial: int
    init: str
    config: str
    winning: bool
    start_time: int

    @property
    def source(self) -> str:
        return f"run {self.name} ({self.run_id})"


def _all_pages(fetch: Callable) -> list:
    items, token = [], None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _trial_run(run) -> TrialRun:
    tags, name = run.data.tags, run.info.run_name or run.info.run_id
    missing = [tag for tag in _REQUIRED_TAGS if tag not in tags]
    if (
        missing
        or not tags[contract.TAG_TRIAL].isdigit()
        or tags[contract.TAG_WINNING] not in ("true", "false")
    ):
        raise UserError(
            f"run {name} ({run.info.run_id}) is tagged as a trial but its tags {missing or _REQUIRED_TAGS} "
            "are missing or malformed; delete the run or re-run the trial that produced it"
        )
    return TrialRun(
        run_id=run.info.run_id,
        name=name,
        dataset=tags[contract.TAG_DATASET],
        trial=int(tags[contract.TAG_TRIAL]),
        init=tags[contract.TAG_INIT],
        config=tags[contract.TAG_CONFIG],
        winning=tags[contract.TAG_WINNING] == "true",
        start_time=run.info.start_time or 0,
    )


def finished_trial_runs(client) -> list[TrialRun]:
    """Every FINISHED trial run in every experiment of the store; UserError if there is none."""
    experiments = _all_pages(lambda token: client.search_experiments(page_token=token))
    query = f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_TRIAL}' and attributes.status = 'FINISHED'"
    ids = [experiment.experiment_id for experiment in experiments]
    runs = (
        _all_pages(lambda token: client.search_runs(ids, filter_string=query, page_token=token))
        if ids
        else []
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


def dataset_order(names: Sequence[str]) -> list[str]:
    """Known datasets in their canonical order, then any others alphabetically."""
    known = list(DATASETS)
    return sorted(set(names), key=lambda name: (known.index(name) if name in known else len(known), name))


def select_runs(
    runs: Sequence[TrialRun], datasets: Sequence[str] | None
) -> tuple[list[str], list[TrialRun], list[str]]:
    """(datasets, the runs analysed, messages): one configuration per dataset, the newest run per trial.

    `datasets` None means every dataset with trial runs; otherwise distinct names (ValueError if not).
    UserError if a requested dataset has none.
    """
    require_distinct(datasets or ())
    available = dataset_order([run.dataset for run in runs])
    chosen = list(datasets) if datasets else available
    absent = [name for name in chosen if name not in available]
    if absent:
        raise UserError(
            f"no finished trial runs for dataset(s) {', '.join(absent)}; "
            f"the store has {', '.join(available)} "
            "— train them first (`make train DATASET=...`) or leave them out of --datasets"
        )
    selected, messages = [], []
    for dataset in chosen:
        of_dataset = [run for run in runs if run.dataset == dataset]
        counts = Counter(run.config for run in of_dataset)
        newest = {config: max(r.start_time for r in of_dataset if r.config == config) for config in counts}
        config = max(counts, key=lambda c: (counts[c], newest[c]))
        if len(counts) > 1:
            others = ", ".join(f"{c} ({n} runs)" for c, n in counts.items() if c != config)
            messages.append(
                f"{dataset}: trial runs of {len(counts)} configurations; "
                f"using {config} ({counts[config]} runs, "
                f"the most), ignoring {others}"
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
        return cache.read(client, run.run_id, artifact, run.source, read)
    with tempfile.TemporaryDirectory() as directory:
        return read(store.download_artifact(client, run.run_id, artifact, directory, run.source))


def load_tickets(
    client, runs: Sequence[TrialRun], cache: TicketCache | None = None
) -> tuple[list[Ticket], tuple[str, ...]]:
    """Each run's random ticket and, if it won, its winning ticket, and the names of their layers in forward
    order — as the tickets hold them (the keys of θ0's `.npz`), whatever the model. UserError naming a run on
    bad files, or on runs of different architectures.

    With a `cache`, artifacts are read from it and downloaded only on a miss; without, each is downloaded.
    """
    tickets: list[Ticket] = []
    shapes, layer_names = None, None
    for run in runs:
        kinds = (WINNING, RANDOM) if run.winning else (RANDOM,)
        theta0 = _read(client, run, contract.INIT_ARTIFACT, layer_names, np.float32, cache)
        layer_names = layer_names or tuple(theta0)
        masks = {
            kind: _read(client, run, MASK_ARTIFACTS[kind], layer_names, np.bool_, cache) for kind in kinds
        }
        run_shapes = [theta0[name].shape for name in layer_names]
        for kind, mask in masks.items():
            if [mask[name].shape for name in layer_names] != run_shapes:
                raise UserError(
                    f"{run.source}: {MASK_ARTIFACTS[kind]} does not match the shapes of "
                    f"{contract.INIT_ARTIFACT}; re-run the trial that produced it"
                )
        shapes = shapes or _checked_shapes(run, theta0, layer_names)
        if run_shapes != shapes:
            raise UserError(
                f"{run.source}: layer shapes {run_shapes} differ from the other runs' {shapes}; "
                "analyse one architecture at a time (--datasets)"
            )
        tickets += [
            Ticket(
                run.dataset,
                run.trial,
                kind,
                run.init,
                run.run_id,
                signed_layers(theta0, masks[kind], layer_names),
            )
            for kind in kinds
        ]
    return tickets, layer_names or ()


def _checked_shapes(run: TrialRun, theta0: dict[str, np.ndarray], layer_names: Sequence[str]) -> list[tuple]:
    """The first run's shapes, checked to form a network the analysis understands."""
    layers = [theta0[name] for name in layer_names]
    try:
        input_blocks(layers)
        if layers[0].ndim != 4 or layers[0].shape[2:] != (3, 3):
            raise ValueError(f"the first layer must be a 3×3 convolution, not {layers[0].shape}")
    except ValueError as error:
        raise UserError(
            f"{run.source}: {contract.INIT_ARTIFACT} is not a chain network whose first layer is a 3×3 "
            f"convolution ({error}); the analysis needs one"
        ) from None
    return [layer.shape for layer in layers]
