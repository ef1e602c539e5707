"""Trial runs in the tracking store (the tracking contract of `lottery.tracking`).

Trial runs are found by tag (`lottery.role=trial`, status FINISHED) across every experiment of the store; each
names its model (param `model`; runs that predate it trained `conv2`). Each run gives its random ticket and,
when tagged `lottery.winning=true`, its winning ticket; both share the run's θ0 and `lottery.init`, and both
take their signs from θ_k, the weights every round reset to: `ticket/rewind.npz` for a run tagged
`lottery.rewind_step` = k > 0 (late rewinding), θ0's `ticket/init.npz` otherwise. Each run also carries its
final test accuracies as the run lists them (`test_acc` and every control's `<control>_test_acc`): MLflow
keeps per metric the value of the highest step, which for a finished trial of R rounds is step R. Which runs
are analysed is `analysis.tickets.selection`'s; their tickets are read by `analysis.tickets.loading`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lottery.errors import UserError
from lottery.tracking import contract, store

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
