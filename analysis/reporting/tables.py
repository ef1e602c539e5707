"""The analysis's tables as DataFrames (paper Table 1, A.1–A.3, every pair, top patterns, source runs);
Table 1 and the controls table as text.

Column names are the statistics' names (`analysis.statistics.stats`), without dots: MLflow's table view
reads a dot as a path into the row. Logged tables carry sensible precision (`rounded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from analysis.distances.nnstd import METRICS
from analysis.pipeline import Analysis
from analysis.statistics.stats import OVERALL, OVERALL_ONLY
from analysis.statistics.stats import STATISTICS as STATS
from analysis.tickets.store import TrialRun

# Table 1 in the terminal: statistic → its column there (the paper's test over pairs, ours over tickets)
TERMINAL_STATS = {
    "mean": "mean",
    "ticket_share": "share",
    "tie_spread": "tie_spread",
    "diff_mean": "diff_mean",
    "p_value": "p_pairs",
    "p_holm": "p_holm_pairs",
    "p_tickets": "p_tickets",
    "p_holm_tickets": "p_holm_tickets",
    "cohen_d": "cohen_d",
    "significant": "significant",
    "beyond_ties": "beyond_ties",
}
METRIC_TITLES = {"nnstd": "NNSTD", "nnstd_pm": "NNSTD±"}
_SIGN_CHARS = {1: "+", 0: ".", -1: "-"}


def _by_condition(stats: pd.DataFrame, layer: str, metric: str) -> pd.DataFrame:
    rows = stats[(stats["layer"] == layer) & (stats["metric"] == metric)].set_index("condition")
    return rows.reindex(columns=["pairs", *STATS])


# significant digits of p-values, decimals of Cohen's d, and of every other number (distances: their
# differences of 1e-4 matter)
P_DIGITS, D_DECIMALS, DECIMALS = 3, 3, 6
_P_COLUMNS = ("p_value", "p_holm", "p_tickets", "p_holm_tickets")
_D_COLUMNS = ("cohen_d", "d_ci_low", "d_ci_high", "d_z", "ticket_share", "dof_tickets")
_YES_NO_COLUMNS = ("significant", "beyond_ties")


def _significant_digits(value: float, digits: int) -> float:
    return value if not np.isfinite(value) or value == 0 else float(f"{value:.{digits - 1}e}")


def yes_no(value) -> str:
    """`true` / `false` as the run tags say it, empty where not measured."""
    return "" if value is None or pd.isna(value) else str(bool(value)).lower()


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with p-values to 3 significant digits, d to 3 decimals, every other float (distances) to 6,
    and the yes/no columns as `true` / `false`."""
    table = table.copy()
    for column in table.columns:
        if column in _YES_NO_COLUMNS:
            table[column] = [yes_no(value) for value in table[column]]
        elif column in _P_COLUMNS:
            table[column] = [_significant_digits(float(v), P_DIGITS) for v in table[column]]
        elif pd.api.types.is_float_dtype(table[column]):
            table[column] = table[column].round(D_DECIMALS if column in _D_COLUMNS else DECIMALS)
    return table


def table_1(stats: pd.DataFrame) -> pd.DataFrame:
    """Table 1: one row per condition and metric (NNSTD, NNSTD±), its mean, SD, tie spread and comparison
    with `random`; a condition's two metrics next to each other."""
    rows = stats[stats["layer"] == OVERALL].copy()
    rows["metric"] = pd.Categorical(
        rows["metric"].map(METRIC_TITLES), categories=list(METRIC_TITLES.values())
    )
    rows["condition"] = pd.Categorical(rows["condition"], categories=list(dict.fromkeys(rows["condition"])))
    rows = rows.sort_values(["condition", "metric"])
    return rows.reindex(columns=["condition", "metric", "pairs", *STATS]).astype(
        {"condition": str, "metric": str}
    )


def table_layers(stats: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per condition and layer for one metric (Table A.1: NNSTD±, Table A.2: NNSTD)."""
    rows = stats[(stats["metric"] == metric) & (stats["layer"] != OVERALL)]
    columns = [stat for stat in STATS if stat not in OVERALL_ONLY]
    return rows.reindex(columns=["condition", "layer", "pairs", *columns]).reset_index(drop=True)


def table_patterns(analysis: Analysis) -> pd.DataFrame:
    """One row per pattern group with its scalar pattern metrics (Table A.3)."""
    rows = [{"group": name, "tickets": p.tickets, **p.metrics()} for name, p in analysis.patterns.items()]
    return pd.DataFrame(rows)


def pattern_text(pattern: np.ndarray) -> str:
    """A signed 3×3 kernel as text, rows separated by '/': '+' positive, '-' negative, '.' pruned."""
    return "/".join("".join(_SIGN_CHARS[int(v)] for v in row) for row in pattern)


def table_top_patterns(analysis: Analysis) -> pd.DataFrame:
    """The most frequent signed kernels per group and number of remaining weights, with their counts."""
    rows = [
        {"group": name, "remaining": n, "rank": rank + 1, "pattern": pattern_text(pattern), "count": count}
        for name, p in analysis.patterns.items()
        for n, top in p.top_patterns.items()
        for rank, (pattern, count) in enumerate(top)
    ]
    return pd.DataFrame(rows, columns=["group", "remaining", "rank", "pattern", "count"])


def table_pairs(analysis: Analysis) -> pd.DataFrame:
    """Every compared pair: condition, metric, tickets and runs, each layer's distance and their mean."""
    frames = []
    for condition in analysis.conditions:
        first = [analysis.tickets[i] for i in condition.pairs[:, 0]]
        second = [analysis.tickets[j] for j in condition.pairs[:, 1]]
        for metric, per_layer in analysis.distances[condition.name].items():
            columns = {
                "condition": condition.name,
                "metric": metric,
                "ticket_a": [t.label for t in first],
                "ticket_b": [t.label for t in second],
                "run_a": [t.run_id for t in first],
                "run_b": [t.run_id for t in second],
                **dict(zip(analysis.layer_names, per_layer.T, strict=True)),
                "distance": per_layer.mean(axis=1),
                "tie_spread": analysis.tie_spreads[condition.name][metric],
            }
            frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def table_source_runs(runs: Sequence[TrialRun]) -> pd.DataFrame:
    """One row per analysed trial run: its fields, and one column per final accuracy it logged (`test_acc`,
    `<control>_test_acc`)."""
    rows = []
    for run in runs:
        fields = asdict(run)
        rows.append({**fields, **fields.pop("accuracies")})
    return pd.DataFrame(rows)


def number(spec: str):
    """A formatter: a value in `spec`, empty where it is missing."""
    return lambda value: "" if value is None or pd.isna(value) else format(value, spec)


def format_table_1(stats: pd.DataFrame, alpha: float) -> str:
    """Table 1 for the terminal: one block per metric (the SDs and intervals are in the logged tables)."""
    formats = {
        "mean": ".4f",
        "ticket_share": ".2f",
        "tie_spread": ".4f",
        "diff_mean": "+.4f",
        "cohen_d": "+.2f",
    }
    formatters = {TERMINAL_STATS[stat]: number(spec) for stat, spec in formats.items()}
    formatters |= {TERMINAL_STATS[stat]: number(".2e") for stat in _P_COLUMNS}
    formatters |= {TERMINAL_STATS[stat]: yes_no for stat in _YES_NO_COLUMNS}
    blocks = []
    for metric in METRICS:
        table = _by_condition(stats, OVERALL, metric).reindex(columns=["pairs", *TERMINAL_STATS])
        if not table.empty:
            text = table.rename(columns=TERMINAL_STATS).to_string(na_rep="", formatters=formatters)
            family = int(table["p_holm_tickets"].notna().sum())
            blocks.append(
                f"Table 1 — {METRIC_TITLES[metric]} against random\n"
                "p_pairs, p_holm_pairs: the paper's test (Welch over pairs); p_tickets, p_holm_tickets: ours "
                "(tickets as the unit); share: of a pair's variance, carried by its tickets\n"
                f"significant: p_holm_tickets < {alpha:g} (Holm over the {family} conditions compared); "
                f"beyond_ties: |diff_mean| > the two tie spreads\n{text}"
            )
    return "\n\n".join(blocks)


CONTROL_TERMINAL = ("trials", "ticket_acc_mean", "control_acc_mean", "diff_mean", "p_value", "d_z")


def format_controls(controls: pd.DataFrame) -> str:
    """The controls table for the terminal: per dataset and control, both mean final accuracies, the mean
    paired difference, the paired t-test's p and d_z (the intervals are in the logged table)."""
    if controls.empty:
        return ""
    formatters = {
        "ticket_acc_mean": number(".4f"),
        "control_acc_mean": number(".4f"),
        "diff_mean": number("+.4f"),
        "p_value": number(".2e"),
        "d_z": number("+.2f"),
    }
    table = controls.set_index(["dataset", "control"]).reindex(columns=list(CONTROL_TERMINAL))
    text = table.to_string(na_rep="", formatters=formatters)
    return (
        "Controls — final test accuracy of each control against its own trial's ticket (diff_mean = "
        f"control − ticket, paired by trial; paired t-test, d_z)\n{text}"
    )
