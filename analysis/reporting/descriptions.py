"""What each run of an analysis is and what it found, as the run's description in the MLflow UI (the
markdown note, tag `mlflow.note.content`): the analysis run's holds Table 1 for both metrics, the controls
against the ticket, and the settings; each condition and pattern group's run a paragraph."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from analysis.pipeline import Analysis
from analysis.reporting.tables import METRIC_TITLES, number
from analysis.statistics.conditions import RANDOM_CONDITION, SAME_INIT, Condition
from analysis.statistics.stats import OVERALL
from analysis.tickets.store import TrialRun
from lottery.tracking import contract

CATEGORY_TEXT = {
    "random": "two random tickets",
    "WTs": "two winning tickets of {0}",
    "mixed": "a winning ticket of {0} and a random ticket",
    "between": "a winning ticket of {0} and one of {1}",
    "between_same_init": "a winning ticket of {0} and one of {1} grown from the same θ0",
}


# MLflow's UI sets a table with no margin below it: a line break keeps the next heading off its last row
TABLE_END = "\n\n<br>"
PAD = "&nbsp;"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def p_text(p: float) -> str:
    """A p-value to two significant digits, small ones as 3.1·10⁻¹² (no hyphen for a cell to break at)."""
    if p is None or math.isnan(p):
        return ""
    if p >= 0.001:
        return f"{p:.2g}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa}·10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _ci_text(low: float, high: float) -> str:
    return "" if pd.isna(low) or pd.isna(high) else f"{low:+.4f}\u2009…\u2009{high:+.4f}"


def _table_1_markdown(stats: pd.DataFrame, metric: str) -> str:
    rows = stats[(stats["layer"] == OVERALL) & (stats["metric"] == metric)]
    header = ["condition", "pairs", "mean", "ticket share", "diff", "95 % CI (tickets)", "p pairs (paper)"]
    header += ["p Holm pairs", "p tickets (ours)", "p Holm tickets", "d", "effect", "sig."]
    lines = [
        _markdown_row(header),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows.to_dict("records"):
        compared = not pd.isna(row["diff_mean"])
        cells = [
            f"`{row['condition']}`",
            str(row["pairs"]),
            number(".4f")(row["mean"]),
            number(".2f")(row["ticket_share"]),
            number("+.4f")(row["diff_mean"]),
            _ci_text(row["diff_ci_low_tickets"], row["diff_ci_high_tickets"]),
            p_text(row["p_value"]),
            p_text(row["p_holm"]),
            p_text(row["p_tickets"]),
            p_text(row["p_holm_tickets"]),
            number("+.2f")(row["cohen_d"]),
            row["effect"].replace(" ", "\u00a0") if compared else "",
            ("yes" if row["significant"] else "no") if compared else "",
        ]
        lines.append(_markdown_row(cells))
    return "\n".join(lines) + TABLE_END


def _markdown_row(cells: Sequence[str]) -> str:
    """A markdown table row whose cells keep a gap between them in MLflow's UI, which styles its tables
    without cell padding: each cell padded with a no-break space on both sides (as `&nbsp;`: the markdown
    converter trims the spaces themselves)."""
    return "| " + " | ".join(f"{PAD}{cell}{PAD}" if cell else "" for cell in cells) + " |"


def _controls_markdown(controls: pd.DataFrame) -> str:
    header = [
        "dataset",
        "control",
        "trials",
        "ticket acc",
        "control acc",
        "diff",
        "95 % CI",
        "p (paired t)",
        "d_z",
    ]
    lines = [_markdown_row(header), "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in controls.to_dict("records"):
        cells = [
            row["dataset"],
            f"`{row['control']}`",
            str(row["trials"]),
            number(".4f")(row["ticket_acc_mean"]),
            number(".4f")(row["control_acc_mean"]),
            number("+.4f")(row["diff_mean"]),
            _ci_text(row["diff_ci_low"], row["diff_ci_high"]),
            p_text(row["p_value"]),
            number("+.2f")(row["d_z"]),
        ]
        lines.append(_markdown_row(cells))
    return "\n".join(lines) + TABLE_END


def _tables_logged(analysis: Analysis, paper_comparison: bool) -> str:
    """Where the rest is, naming only the tables an analysis of these results logs."""
    table = contract.table_artifact
    tables = [
        "the SDs, tie spreads, whether a difference exceeds them, the degrees of freedom of the ticket-level "
        f"test and the 95 % intervals of diff (both tests) and d: `{table(contract.TABLE_1)}`",
        f"per layer: `{table(contract.TABLE_NNSTD_PM_LAYERS)}` and `{table(contract.TABLE_NNSTD_LAYERS)}`",
        f"every pair: `{table(contract.TABLE_PAIRS)}`",
    ]
    if paper_comparison:
        tables.append(f"the paper's values next to ours: `{table(contract.TABLE_PAPER_COMPARISON)}`")
    if analysis.patterns:
        tables.append(
            f"kernel patterns: `{table(contract.TABLE_PATTERNS)}`, `{table(contract.TOP_PATTERNS)}`"
        )
    return "In the Artifacts tab: " + "; ".join(tables) + "."


def analysis_note(
    analysis: Analysis, runs: Sequence[TrialRun], notes: Sequence[str], paper_comparison: bool
) -> str:
    """The analysis run's description: what was compared, how, Table 1 for both metrics, the controls
    against the ticket, and the notes; it names `tables/paper_comparison.json` only if it is logged."""
    settings = analysis.settings
    winning = sum(t.winning for t in analysis.tickets)
    parts = [
        f"**Table 1 of {settings.model} tickets on {', '.join(settings.datasets)}**: each condition against "
        "`random`, by two tests. *p pairs* is the paper's: Welch's t-test over the pairs, as if each pair "
        "were an independent sample. *p tickets* is ours: the same difference with tickets (their θ0s) as "
        "the unit, since every ticket sits in several pairs; *ticket share* is how much of a pair's "
        "variance its two tickets carry. The verdict (*sig.*) follows ours: p Holm tickets < "
        f"{settings.alpha:g}."
    ]
    for metric, title in METRIC_TITLES.items():
        if (analysis.stats["metric"] == metric).any():
            parts.append(
                f"### Table 1 — {title} against random\n\n{_table_1_markdown(analysis.stats, metric)}"
            )
    if not analysis.controls.empty:
        parts.append(
            "### Controls against the ticket\n\nFinal test accuracy (step R) of each control and of the "
            "ticket of its own trial, over the trials that logged both; diff = control − ticket, paired by "
            "trial; p: the paired t-test; d_z: the mean difference over the SD of the differences.\n\n"
            + _controls_markdown(analysis.controls)
        )
    parts += [
        f"{winning} winning and {len(analysis.tickets) - winning} random tickets from {len(runs)} trial "
        f"runs; up to {settings.pairs} pairs per condition (seed {settings.seed}); {settings.tie_rule}; "
        f"NNSTD± weighs G⁺ by {settings.positive_weight:g}. p Holm: Holm-adjusted over the conditions "
        "compared; d: Cohen's d (pooled SD) over pairs.",
        _tables_logged(analysis, paper_comparison),
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
        if condition.name == RANDOM_CONDITION or pd.isna(row["diff_mean"]):
            text.append(f"{title} {row['mean']:.4f} (SD {row['std']:.4f}).")
            continue
        verdict = "significant" if row["significant"] else "not significant"
        text.append(
            f"{title} {row['mean']:.4f} (SD {row['std']:.4f}): {row['diff_mean']:+.4f} against random; "
            f"tickets as the unit (ours) p = {p_text(row['p_tickets']) or 'n/a'} (Holm "
            f"{p_text(row['p_holm_tickets']) or 'n/a'}, {verdict}); pairs as the unit (the paper's Welch) "
            f"p = {p_text(row['p_value']) or 'n/a'}; d = {row['cohen_d']:+.2f} ({row['effect']})."
        )
    return " ".join(text)


def patterns_note(analysis: Analysis, group: str) -> str:
    """A pattern group run's description: whose first-layer kernels, and the headline pattern metrics."""
    patterns = analysis.patterns[group]
    metrics = patterns.metrics()
    whose = (
        "random tickets" if group == RANDOM_CONDITION else f"winning tickets of {group.removeprefix('WTs_')}"
    )
    return (
        f"**`{group}`**: the signed 3×3 kernels of the first conv layer of {patterns.tickets} {whose}. "
        f"Positive / negative remaining weights {metrics['sign_ratio']:.2f}; neighbouring positive pairs "
        f"{metrics['neighbour_pct_pos']:.1f} % (random kernels: ≈ 33 %); SD of the remaining weights per "
        f"filter {metrics['filter_count_std']:.2f}. Figures: filter counts, co-occurrence maps, the most "
        "frequent patterns."
    )
