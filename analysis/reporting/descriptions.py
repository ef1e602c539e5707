"""What each run of an analysis is and what it found, as the run's description in the MLflow UI (the
markdown note, tag `mlflow.note.content`): the analysis run's holds Table 1 for both metrics, the controls
against the ticket, and the settings; each condition and pattern group's run a paragraph."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from analysis.pipeline import Analysis
from analysis.reporting.tables import METRIC_TITLES, number
from analysis.statistics.conditions import RANDOM, SAME_INIT, Condition
from analysis.statistics.stats import OVERALL
from analysis.tickets.store import TrialRun

NOTE_TAG = "mlflow.note.content"
CATEGORY_TEXT = {
    "random": "two random tickets",
    "WTs": "two winning tickets of {0}",
    "mixed": "a winning ticket of {0} and a random ticket",
    "between": "a winning ticket of {0} and one of {1}",
    "between_same_init": "a winning ticket of {0} and one of {1} grown from the same θ0",
}


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def p_text(p: float) -> str:
    """A p-value to two significant digits, small ones as 3.1·10⁻¹² (no hyphen for a cell to break at)."""
    if p is None or math.isnan(p):
        return ""
    if p >= 0.001:
        return f"{p:.2g}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa}·10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _table_1_markdown(stats: pd.DataFrame, metric: str) -> str:
    rows = stats[(stats["layer"] == OVERALL) & (stats["metric"] == metric)]
    lines = [
        "| condition | pairs | mean | diff | p | p Holm | d | effect | sig. |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows.to_dict("records"):
        compared = not pd.isna(row["diff_mean"])
        cells = [
            f"`{row['condition']}`",
            str(row["pairs"]),
            number(".4f")(row["mean"]),
            number("+.4f")(row["diff_mean"]),
            p_text(row["p_value"]),
            p_text(row["p_holm"]),
            number("+.2f")(row["cohen_d"]),
            row["effect"].replace(" ", "\u00a0") if compared else "",
            ("yes" if row["significant"] else "no") if compared else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _controls_markdown(controls: pd.DataFrame) -> str:
    lines = [
        "| dataset | control | runs | ticket acc | control acc | diff | p | d | effect |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in controls.to_dict("records"):
        cells = [
            row["dataset"],
            f"`{row['control']}`",
            str(row["control_n"]),
            number(".4f")(row["ticket_acc_mean"]),
            number(".4f")(row["control_acc_mean"]),
            number("+.4f")(row["diff_mean"]),
            p_text(row["p_value"]),
            number("+.2f")(row["cohen_d"]),
            row["effect"].replace(" ", "\u00a0"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def analysis_note(analysis: Analysis, runs: Sequence[TrialRun], notes: Sequence[str]) -> str:
    """The analysis run's description: what was compared, how, Table 1 for both metrics, the controls
    against the ticket, and the notes."""
    settings = analysis.settings
    winning = sum(t.winning for t in analysis.tickets)
    parts = [
        f"**Table 1 of {settings.model} tickets on {', '.join(settings.datasets)}**: "
        "each condition against `random`."
    ]
    for metric, title in METRIC_TITLES.items():
        if (analysis.stats["metric"] == metric).any():
            parts.append(
                f"### Table 1 — {title} against random\n\n{_table_1_markdown(analysis.stats, metric)}"
            )
    if not analysis.controls.empty:
        parts.append(
            "### Controls against the ticket\n\nFinal test accuracy (step R) of each control and of the "
            "ticket it derives from, over the trial runs (runs: of the control); diff = control − ticket, "
            "p: Welch's t-test, d: Cohen's d (pooled SD); intervals in `tables/controls.json`.\n\n"
            + _controls_markdown(analysis.controls)
        )
    parts += [
        f"{winning} winning and {len(analysis.tickets) - winning} random tickets from {len(runs)} trial "
        f"runs; up to {settings.pairs} pairs per condition (seed {settings.seed}); {settings.tie_rule}; "
        f"NNSTD± weighs G⁺ by {settings.positive_weight:g}. p: Welch's t-test; p Holm: Holm-adjusted over "
        f"the conditions; sig.: p Holm < {settings.alpha:g}; d: Cohen's d (pooled SD). The SDs, tie spreads, "
        "whether a difference exceeds them, and the 95 % intervals of diff and d: `tables/table_1.json`.",
        "Per layer: `tables/table_A1_nnstd_pm_layers.json` and `table_A2_nnstd_layers.json`; every pair: "
        "`tables/pair_distances.json`; the paper's values next to ours (when its conditions are here): "
        "`tables/paper_comparison.json`.",
    ]
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts)


def _dataset_names(condition: Condition) -> list[str]:
    name = condition.name.removeprefix(f"{condition.category}_")
    return name.split("_", 1) if condition.category.startswith("between") else [name]


def condition_note(analysis: Analysis, condition: Condition) -> str:
    """A condition run's description: its pairs and both metrics against random."""
    what = CATEGORY_TEXT[condition.category].format(*_dataset_names(condition))
    inits = "" if condition.category == SAME_INIT else ", never sharing θ0"
    text = [
        f"**`{condition.name}`**: pairs of {what}{inits}; {len(condition.pairs)} of {condition.eligible} "
        "eligible pairs."
    ]
    for metric, title in METRIC_TITLES.items():
        rows = analysis.stats[
            (analysis.stats["condition"] == condition.name)
            & (analysis.stats["metric"] == metric)
            & (analysis.stats["layer"] == OVERALL)
        ]
        if rows.empty:
            continue
        row = rows.iloc[0]
        if condition.name == RANDOM or pd.isna(row["diff_mean"]):
            text.append(f"{title} {row['mean']:.4f} (SD {row['std']:.4f}).")
            continue
        verdict = "significant" if row["significant"] else "not significant"
        text.append(
            f"{title} {row['mean']:.4f} (SD {row['std']:.4f}): {row['diff_mean']:+.4f} against random, "
            f"p = {row['p_value']:.2g} (Holm {row['p_holm']:.2g}, {verdict}), d = {row['cohen_d']:+.2f} "
            f"({row['effect']})."
        )
    return " ".join(text)


def patterns_note(analysis: Analysis, group: str) -> str:
    """A pattern group run's description: whose first-layer kernels, and the headline pattern metrics."""
    patterns = analysis.patterns[group]
    metrics = patterns.metrics()
    whose = "random tickets" if group == RANDOM else f"winning tickets of {group.removeprefix('WTs_')}"
    return (
        f"**`{group}`**: the signed 3×3 kernels of the first conv layer of {patterns.tickets} {whose}. "
        f"Positive / negative remaining weights {metrics['sign_ratio']:.2f}; neighbouring positive pairs "
        f"{metrics['neighbour_pct_pos']:.1f} % (random kernels: ≈ 33 %); SD of the remaining weights per "
        f"filter {metrics['filter_count_std']:.2f}. Figures: filter counts, co-occurrence maps, the most "
        "frequent patterns."
    )
