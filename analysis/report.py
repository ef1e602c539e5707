"""An analysis logged back into MLflow, so that conditions compare side by side in the UI.

Experiment `analysis`:
- the analysis run (`lottery.role=analysis`): params datasets, pairs, seed, alpha, K, the chosen
  configuration per dataset and the source trial run ids; tables (Table 1, A.1, A.2, A.3, top patterns,
  every pair's distances, the source runs) via `log_table` (JSON) and as CSV; Fig. 1, A.2, A.4;
- one child run per condition (`lottery.role=condition`, run name = condition, `lottery.category`):
  metrics `<m>.<stat>` and `<m>.<layer>.<stat>` for m ∈ {nnstd, nnstd_pm} and stat ∈ {mean, std, diff_mean,
  p_value, cohen_d}, `pairs.eligible` and `pairs.used`; tags `<m>[.<layer>].effect` and `.significant`;
- one child run per pattern group (`lottery.role=patterns`, run name = group): the pattern metrics and
  Fig. 2–6 of that group.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag

from analysis import figures, tables
from analysis.conditions import Condition
from analysis.pipeline import Analysis
from analysis.stats import OVERALL
from analysis.store import TrialRun
from lottery import tracking

ANALYSIS_EXPERIMENT = "analysis"
NUMERIC_STATS = ("mean", "std", "diff_mean", "p_value", "cohen_d")
LABEL_STATS = ("effect", "significant")
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
FINISHED = RunStatus.to_string(RunStatus.FINISHED)


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


def _log_table(client, run_id: str, name: str, frame: pd.DataFrame) -> None:
    client.log_table(run_id, data=frame, artifact_file=f"tables/{name}.json")
    client.log_text(run_id, frame.to_csv(index=False), f"tables/{name}.csv")


def _child(client, experiment: str, parent: str, name: str, role: str) -> str:
    return client.create_run(
        experiment, run_name=name, tags={PARENT_TAG: parent, tracking.TAG_ROLE: role}
    ).info.run_id


def _log_condition(client, experiment: str, parent: str, analysis: Analysis, condition: Condition) -> None:
    """Metrics `<m>[.<layer>].<stat>` and label tags; statistics a condition lacks (random: the comparison)
    are left out."""
    now = int(time.time() * 1000)
    metrics = [
        Metric("pairs.eligible", condition.eligible, now, 0),
        Metric("pairs.used", len(condition.pairs), now, 0),
    ]
    tags = [RunTag(tracking.TAG_CATEGORY, condition.category)]
    for row in analysis.stats[analysis.stats["condition"] == condition.name].to_dict("records"):
        prefix = row["metric"] if row["layer"] == OVERALL else f"{row['metric']}.{row['layer']}"
        present = {stat: value for stat, value in row.items() if not pd.isna(value)}
        metrics += [
            Metric(f"{prefix}.{stat}", float(present[stat]), now, 0)
            for stat in NUMERIC_STATS
            if stat in present
        ]
        tags += [
            RunTag(f"{prefix}.{stat}", str(present[stat]).lower()) for stat in LABEL_STATS if stat in present
        ]
    run_id = _child(client, experiment, parent, condition.name, tracking.ROLE_CONDITION)
    client.log_batch(run_id, metrics=metrics, tags=tags)
    client.set_terminated(run_id, FINISHED)


def _log_patterns(client, experiment: str, parent: str, analysis: Analysis, group: str) -> None:
    """The group's pattern metrics, its tickets (param `tickets`: how many; `tickets.txt`: which), figures."""
    now = int(time.time() * 1000)
    patterns = analysis.patterns[group]
    members = [analysis.tickets[i] for i in analysis.pattern_groups[group]]
    run_id = _child(client, experiment, parent, group, tracking.ROLE_PATTERNS)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in patterns.metrics().items()],
        params=[Param("tickets", str(patterns.tickets))],
    )
    client.log_text(run_id, "".join(f"{t.label} {t.run_id}\n" for t in members), "tickets.txt")
    client.log_figure(run_id, figures.filter_counts(patterns, group), "figures/fig2_filters.png")
    client.log_figure(run_id, figures.cooccurrence(patterns, group, "+"), "figures/fig3_cooccurrence_pos.png")
    client.log_figure(run_id, figures.cooccurrence(patterns, group, "−"), "figures/fig4_cooccurrence_neg.png")
    client.log_figure(run_id, figures.top_patterns(patterns, group), "figures/top_patterns.png")
    client.set_terminated(run_id, FINISHED)


def log_analysis(client, analysis: Analysis, runs: Sequence[TrialRun], notes: Sequence[str]) -> str:
    """Log `analysis` of the tickets of `runs`; return the analysis run's id (FAILED if logging fails)."""
    settings = analysis.settings
    experiment = tracking.experiment_id(client, ANALYSIS_EXPERIMENT)
    parent = client.create_run(
        experiment,
        run_name=f"{'+'.join(settings.datasets)} seed {settings.seed}",
        tags={tracking.TAG_ROLE: tracking.ROLE_ANALYSIS},
    ).info.run_id
    configs = {run.dataset: run.config for run in runs}
    params = [
        Param("datasets", ",".join(settings.datasets)),
        Param("pairs", str(settings.pairs)),
        Param("seed", str(settings.seed)),
        Param("alpha", str(settings.alpha)),
        Param("K", "all" if settings.k is None else str(settings.k)),
        *[Param(f"config.{dataset}", config) for dataset, config in configs.items()],
        *_chunked("source_runs", [run.run_id for run in runs]),
    ]
    try:
        client.log_batch(parent, params=params)
        if notes:
            client.log_text(parent, "\n".join(notes) + "\n", "notes.txt")
        for condition in analysis.conditions:
            _log_condition(client, experiment, parent, analysis, condition)
        for group in analysis.patterns:
            _log_patterns(client, experiment, parent, analysis, group)
        _log_table(client, parent, "table_1", tables.table_1(analysis.stats))
        _log_table(client, parent, "table_A1_nnstd_layers", tables.table_layers(analysis.stats, "nnstd"))
        _log_table(
            client, parent, "table_A2_nnstd_pm_layers", tables.table_layers(analysis.stats, "nnstd_pm")
        )
        _log_table(client, parent, "table_A3_patterns", tables.table_patterns(analysis))
        _log_table(client, parent, "top_patterns", tables.table_top_patterns(analysis))
        _log_table(client, parent, "pair_distances", tables.table_pairs(analysis))
        _log_table(client, parent, "source_runs", pd.DataFrame([vars(run) for run in runs]))
        if analysis.conditions:
            client.log_figure(parent, figures.distance_distributions(analysis), "figures/fig1_distances.png")
            client.log_figure(
                parent, figures.layer_distributions(analysis, "nnstd"), "figures/figA2_nnstd_layers.png"
            )
            client.log_figure(
                parent, figures.layer_distributions(analysis, "nnstd_pm"), "figures/figA4_nnstd_pm_layers.png"
            )
    except BaseException:
        client.set_terminated(parent, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(parent, FINISHED)
    return parent
