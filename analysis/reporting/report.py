"""An analysis logged back into MLflow, so that conditions compare side by side in the UI.

Experiment `analysis`, one analysis per model; every run has a description
(`analysis.reporting.descriptions`):
- the analysis run (`lottery.role=analysis`, named for what it did: `analysis · <model> · <datasets> ·
  config <ids> · <pairs drawn> pairs · seed <s> · ties <rule>`, `· 2`, `· 3`, … added to keep it unique
  among the experiment's analysis runs): params model, datasets, pairs, seed, alpha, K, ties, tie_draws,
  positive_weight, per dataset the configuration used (`config.<dataset>`) and how it was chosen
  (`config_choice.<dataset>`: `--config` or `most runs`), and the source trial run ids; metrics
  `<m>.diff_mean.<condition>`, `<m>.cohen_d.<condition>` and `<m>.p_tickets.<condition>`, and the controls'
  `controls.<dataset>.<control>.{acc_mean,diff_mean,p_value,d_z}` with `controls.<dataset>.ticket.acc_mean`;
  tables (Table 1, A.1 NNSTD±, A.2 NNSTD, A.3, top patterns, every pair's distances and tie spreads, the
  paper's values next to ours, the controls against the ticket, the source runs) as JSON (read as
  `mlflow.log_table` writes it) and CSV; Fig. 1, A.2, A.4 — a run's files in one upload
  (`analysis.reporting.artifacts`);
- one child run per condition (`lottery.role=condition`, named `condition · <condition>`,
  `lottery.category`): Table 1's metrics `<m>.<stat>` for m ∈ {nnstd, nnstd_pm} and each layer's
  `per_layer.<layer>.<m>.<stat>`, stat among the numeric statistics of `analysis.statistics.stats` (mean,
  std, ticket_share, tie_spread, diff_mean and its CI, p_value, p_holm, cohen_d and its CI, the ticket-level
  CI, p_tickets, p_holm_tickets and dof_tickets; those a row lacks are left out), `pairs.eligible` and
  `pairs.used`; tags `<m>.effect`, `.significant` (Holm over the ticket-level p) and `.beyond_ties` (and per
  layer);
- one child run per pattern group (`lottery.role=patterns`, named `patterns · <group>`): the pattern
  metrics and Fig. 2–6 of that group — none, and no pattern tables, where the model's first layer is not a
  3×3 convolution.
The runs of one analysis end together: all FINISHED once everything is logged, else all FAILED."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

from analysis.pipeline import Analysis
from analysis.reporting import artifacts, descriptions, figures, published, tables
from analysis.reporting.artifacts import RunArtifacts
from analysis.reporting.names import run_name, unique_name
from analysis.settings import Settings
from analysis.statistics.conditions import Condition
from analysis.statistics.controls import TICKET
from analysis.statistics.stats import LABEL_STATISTICS, NUMERIC_STATISTICS, OVERALL
from analysis.tickets.store import TrialRun
from lottery.errors import UserError, first_line
from lottery.tracking import contract, store, uris

HEADLINE_STATS = ("diff_mean", "cohen_d", "p_tickets")
CONTROL_STATS = {"control_acc_mean": "acc_mean", "diff_mean": "diff_mean", "p_value": "p_value", "d_z": "d_z"}
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
FAILED = RunStatus.to_string(RunStatus.FAILED)
_INVALID_VALUE = ErrorCode.Name(INVALID_PARAMETER_VALUE)


def _chunked(name: str, values: Sequence[str]) -> list[Param]:
    """`values` comma-joined as param `name`, continued in `name.2`, … past MLflow's length limit."""
    chunks, current = [], ""
    for value in values:
        if current and len(current) + 1 + len(value) > MAX_PARAM_LENGTH:
            chunks.append(current)
            current = ""
        current = f"{current},{value}" if current else value
    chunks.append(current)
    return [Param(name if k == 0 else f"{name}.{k + 1}", chunk) for k, chunk in enumerate(chunks)]


def _is_store_error(error: BaseException) -> bool:
    """A tracking store that failed or cannot be reached, not a value MLflow refused (a bug of ours)."""
    return isinstance(error, MlflowException) and error.error_code != _INVALID_VALUE


def _end_failed(client, run_ids: Sequence[str]) -> str:
    """Mark the runs FAILED, the first (the parent) first; what became of them, for the error report."""
    if not run_ids:
        return "no run was created"
    for run_id in run_ids:
        try:
            client.set_terminated(run_id, FAILED)
        except store.store_errors():  # the store itself fails: stop rather than wait for it once per run
            return f"run {run_ids[0]} and its children could not all be marked FAILED"
    return f"run {run_ids[0]} and its children are marked FAILED"


def _logging_error(uri: str, error: BaseException, runs: str) -> UserError:
    """The one-line report of a disk (OSError) or store error while logging, with its fix."""
    if isinstance(error, OSError):  # requests' errors are OSErrors too: a server's artifact store
        artifact_store = uris.local_artifact_root(uri) or "the tracking server's artifact store"
        fix = f"check that {artifact_store} and {tempfile.gettempdir()} have free space and are writable"
    else:
        fix = f"check that the tracking store {uri} is reachable and writable"
    failure = f"logging the analysis failed ({first_line(error)}); {runs}"
    return UserError(f"{failure} — {fix}, then re-run `make analyze`")


@contextlib.contextmanager
def _ending_together(client) -> Iterator[Callable[[str, str, dict[str, str]], str]]:
    """`open_run(experiment, name, tags) -> run id` for runs that end together.

    The runs stay RUNNING while the block logs. When it completes they all end FINISHED (the first opened,
    the parent, last); when anything fails they all end FAILED, so no run under a FAILED parent is RUNNING
    or FINISHED. A disk or store error then ends as a one-line UserError; any other error propagates.
    """
    opened: list[str] = []

    def open_run(experiment: str, name: str, tags: dict[str, str]) -> str:
        opened.append(client.create_run(experiment, run_name=name, tags=tags).info.run_id)
        return opened[-1]

    try:
        yield open_run
        for run_id in reversed(opened):
            client.set_terminated(run_id, FINISHED)
    except BaseException as error:
        runs = _end_failed(client, opened)
        if isinstance(error, OSError) or _is_store_error(error):
            raise _logging_error(client.tracking_uri, error, runs) from None
        raise


def metric_prefix(metric: str, layer: str) -> str:
    """`<m>` for Table 1's statistics, `per_layer.<layer>.<m>` for a layer's: in MLflow's Compare view,
    which sorts metrics by name, Table 1 (`nnstd.*`, `nnstd_pm.*`, then `pairs.*`) comes first, together."""
    return metric if layer == OVERALL else f"per_layer.{layer}.{metric}"


def _headline_metrics(analysis: Analysis) -> list[Metric]:
    """`<m>.cohen_d.<condition>` and `<m>.diff_mean.<condition>` on the analysis run, so that analyses of
    other settings compare in the runs table."""
    now = store.now_ms()
    rows = analysis.stats[(analysis.stats["layer"] == OVERALL) & analysis.stats["cohen_d"].notna()]
    return [
        Metric(f"{row['metric']}.{stat}.{row['condition']}", float(row[stat]), now, 0)
        for row in rows.to_dict("records")
        for stat in HEADLINE_STATS
        if not pd.isna(row[stat])
    ]


def _control_metrics(controls: pd.DataFrame) -> list[Metric]:
    """`controls.<dataset>.<control>.<stat>` (acc_mean, cohen_d, p_value) and `controls.<dataset>.ticket.
    acc_mean` on the analysis run; NaN statistics (too few runs) are left out."""
    now = store.now_ms()
    values = {}
    for row in controls.to_dict("records"):
        values[f"controls.{row['dataset']}.{TICKET}.acc_mean"] = row["ticket_acc_mean"]
        for column, stat in CONTROL_STATS.items():
            values[f"controls.{row['dataset']}.{row['control']}.{stat}"] = row[column]
    return [Metric(key, float(value), now, 0) for key, value in values.items() if not pd.isna(value)]


def _log_condition(client, run_id: str, analysis: Analysis, condition: Condition) -> None:
    """Metrics `<m>[.<layer>].<stat>` and label tags; statistics a condition lacks (random: the comparison)
    are left out."""
    now = store.now_ms()
    metrics = [
        Metric(contract.PAIRS_ELIGIBLE, condition.eligible, now, 0),
        Metric(contract.PAIRS_USED, len(condition.pairs), now, 0),
    ]
    tags = [
        RunTag(contract.TAG_CATEGORY, condition.category),
        RunTag(contract.TAG_NOTE, descriptions.condition_note(analysis, condition)),
    ]
    for row in analysis.stats[analysis.stats["condition"] == condition.name].to_dict("records"):
        prefix = metric_prefix(row["metric"], row["layer"])
        present = {stat: value for stat, value in row.items() if not pd.isna(value)}
        metrics += [
            Metric(f"{prefix}.{stat}", float(present[stat]), now, 0)
            for stat in NUMERIC_STATISTICS
            if stat in present
        ]
        tags += [
            RunTag(f"{prefix}.{stat}", str(present[stat]).lower())
            for stat in LABEL_STATISTICS
            if stat in present
        ]
    client.log_batch(run_id, metrics=metrics, tags=tags)


def _log_patterns(client, run_id: str, analysis: Analysis, group: str) -> None:
    """The group's pattern metrics, its tickets (param `tickets`: how many; `tickets.txt`: which), figures."""
    now = store.now_ms()
    patterns, others = analysis.patterns[group], analysis.patterns.values()
    members = [analysis.tickets[i] for i in analysis.pattern_groups[group]]
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in patterns.metrics().items()],
        params=[Param(contract.PARAM_GROUP_TICKETS, str(patterns.tickets))],
        tags=[RunTag(contract.TAG_NOTE, descriptions.patterns_note(analysis, group))],
    )
    with artifacts.logged_together(client, run_id) as logged:
        logged.text(contract.GROUP_TICKETS_ARTIFACT, "".join(f"{t.label} {t.run_id}\n" for t in members))
        logged.figure(contract.FIGURE_FILTERS, figures.filter_counts(patterns, group, others))
        logged.figure(contract.FIGURE_COOCCURRENCE_POS, figures.cooccurrence(patterns, group, "+", others))
        logged.figure(contract.FIGURE_COOCCURRENCE_NEG, figures.cooccurrence(patterns, group, "−", others))
        logged.figure(contract.TOP_PATTERNS, figures.top_patterns(patterns, group))


def _analysis_params(settings: Settings, runs: Sequence[TrialRun]) -> list[Param]:
    """The analysis run's params: the settings (`Settings.params`), per dataset the configuration analysed and
    how it was chosen (`--config` or `most runs`), and the source trial runs."""
    configs = {run.dataset: run.config for run in runs}
    chosen = {
        dataset: "--config" if any(config.startswith(ask) for ask in settings.configs) else "most runs"
        for dataset, config in configs.items()
    }
    return [
        *[Param(name, value) for name, value in settings.params().items()],
        *[Param(f"{contract.CONFIG_PARAM_PREFIX}{dataset}", config) for dataset, config in configs.items()],
        *[Param(f"{contract.CONFIG_CHOICE_PARAM_PREFIX}{dataset}", c) for dataset, c in chosen.items()],
        *_chunked(contract.SOURCE_RUNS, [run.run_id for run in runs]),
    ]


def _log_tables(logged: RunArtifacts, analysis: Analysis, runs: Sequence[TrialRun], comparison) -> None:
    """The analysis run's tables (JSON and CSV) and its figures of every condition."""
    logged.table(contract.TABLE_1, tables.table_1(analysis.stats))
    logged.table(contract.TABLE_NNSTD_PM_LAYERS, tables.table_layers(analysis.stats, "nnstd_pm"))
    logged.table(contract.TABLE_NNSTD_LAYERS, tables.table_layers(analysis.stats, "nnstd"))
    if not comparison.empty:
        logged.table(contract.TABLE_PAPER_COMPARISON, comparison)
    if analysis.patterns:
        logged.table(contract.TABLE_PATTERNS, tables.table_patterns(analysis))
        logged.table(contract.TOP_PATTERNS, tables.table_top_patterns(analysis))
    if not analysis.controls.empty:
        logged.table(contract.TABLE_CONTROLS, analysis.controls)
    logged.table(contract.TABLE_PAIRS, tables.table_pairs(analysis))
    logged.table(contract.SOURCE_RUNS, tables.table_source_runs(runs))
    if analysis.conditions:
        logged.figure(contract.FIGURE_DISTANCES, figures.distance_distributions(analysis))
        logged.figure(contract.FIGURE_NNSTD_LAYERS, figures.layer_distributions(analysis, "nnstd"))
        logged.figure(contract.FIGURE_NNSTD_PM_LAYERS, figures.layer_distributions(analysis, "nnstd_pm"))


def log_analysis(client, analysis: Analysis, runs: Sequence[TrialRun], notes: Sequence[str]) -> str:
    """Log `analysis` of the tickets of `runs`; return the analysis run's id.

    All its runs end FINISHED together, or all FAILED if logging fails (UserError for a disk or store error).
    """
    configs = {run.dataset: run.config for run in runs}
    comparison = published.paper_comparison(analysis.stats)
    with _ending_together(client) as open_run:
        experiment = store.experiment_id(client, contract.ANALYSIS_EXPERIMENT)
        note = descriptions.analysis_note(analysis, runs, notes, not comparison.empty)
        parent = open_run(
            experiment,
            unique_name(client, experiment, run_name(analysis, configs)),
            {contract.TAG_ROLE: contract.ROLE_ANALYSIS, contract.TAG_NOTE: note},
        )

        def child(role: str, name: str) -> str:
            tags = {contract.TAG_PARENT: parent, contract.TAG_ROLE: role}
            return open_run(experiment, f"{role} · {name}", tags)

        metrics = _headline_metrics(analysis) + _control_metrics(analysis.controls)
        client.log_batch(parent, params=_analysis_params(analysis.settings, runs), metrics=metrics)
        for condition in analysis.conditions:
            _log_condition(client, child(contract.ROLE_CONDITION, condition.name), analysis, condition)
        for group in analysis.patterns:
            _log_patterns(client, child(contract.ROLE_PATTERNS, group), analysis, group)
        with artifacts.logged_together(client, parent) as logged:
            if notes:
                logged.text(contract.NOTES_ARTIFACT, "\n".join(notes) + "\n")
            _log_tables(logged, analysis, runs, comparison)
    return parent
