"""The analysis's tables as DataFrames (paper Table 1, A.1–A.3, every pair, top patterns); Table 1 as text.

Column names follow the MLflow metric names of the condition runs: `<metric>.<stat>`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.distances.nnstd import METRICS
from analysis.pipeline import Analysis
from analysis.statistics.stats import OVERALL

STATS = (
    "mean",
    "std",
    "tie_spread",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "p_holm",
    "cohen_d",
    "d_ci_low",
    "d_ci_high",
    "effect",
    "significant",
    "beyond_ties",
)
OVERALL_ONLY = ("tie_spread", "beyond_ties")  # tie spreads are measured for NNSTD (NNSTD±), not per layer
TERMINAL_STATS = (
    "mean",
    "std",
    "tie_spread",
    "diff_mean",
    "p_value",
    "p_holm",
    "cohen_d",
    "significant",
    "beyond_ties",
)
METRIC_TITLES = {"nnstd": "NNSTD", "nnstd_pm": "NNSTD±"}
_SIGN_CHARS = {1: "+", 0: ".", -1: "-"}


def _by_condition(stats: pd.DataFrame, layer: str, metric: str) -> pd.DataFrame:
    rows = stats[(stats["layer"] == layer) & (stats["metric"] == metric)].set_index("condition")
    return rows.reindex(columns=["pairs", *STATS])


def table_1(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per condition; for each metric its mean, SD and comparison with `random` (Table 1)."""
    blocks = [
        _by_condition(stats, OVERALL, metric).drop(columns="pairs").add_prefix(f"{metric}.")
        for metric in METRICS
    ]
    pairs = _by_condition(stats, OVERALL, next(iter(METRICS)))["pairs"]
    return pd.concat([pairs, *blocks], axis=1).reset_index()


def table_layers(stats: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per condition and layer for one metric (Table A.1: NNSTD, Table A.2: NNSTD±)."""
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


def _number(spec: str):
    return lambda value: "" if pd.isna(value) else format(value, spec)


def _label(value) -> str:
    return "" if value is None or pd.isna(value) else str(value).lower()


def format_table_1(stats: pd.DataFrame, alpha: float) -> str:
    """Table 1 for the terminal: one block per metric (the intervals are in the logged tables)."""
    formatters = {
        "mean": _number(".4f"),
        "std": _number(".4f"),
        "tie_spread": _number(".4f"),
        "diff_mean": _number("+.4f"),
        "p_value": _number(".2e"),
        "p_holm": _number(".2e"),
        "cohen_d": _number("+.2f"),
        "significant": _label,
        "beyond_ties": _label,
    }
    blocks = []
    for metric in METRICS:
        table = _by_condition(stats, OVERALL, metric).reindex(columns=["pairs", *TERMINAL_STATS])
        if not table.empty:
            text = table.to_string(na_rep="", formatters=formatters)
            family = int(table["p_holm"].notna().sum())
            blocks.append(
                f"Table 1 — {METRIC_TITLES[metric]} against random (significant: Holm-adjusted p < {alpha:g} "
                f"over the {family} conditions compared; beyond_ties: |diff_mean| > the two tie spreads)"
                f"\n{text}"
            )
    return "\n\n".join(blocks)
