"""The paper's published Table 1 and Tables A.1–A.2 next to ours (`paper_comparison`).

The values are those printed in the paper, with our condition names, in `published/` (see its README for
the source and the setup behind them). A `between_<a>_<b>` condition is the same whichever order its
datasets are named in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.reporting.tables import METRIC_TITLES
from analysis.statistics.conditions import SAME_INIT
from analysis.statistics.stats import OVERALL

PUBLISHED = Path(__file__).with_name("published")
# (view, metric) -> the published file: Table 1 holds both metrics overall, A.1 NNSTD± and A.2 NNSTD per layer
_LAYER_TABLES = {"nnstd_pm": "table_A1_nnstd_pm_layers.csv", "nnstd": "table_A2_nnstd_layers.csv"}
STATS = ("diff_mean", "p_value", "cohen_d", "effect")


def condition_key(name: str) -> str:
    """`between_<a>_<b>` with its datasets sorted; other names (the same-θ0 conditions among them, which the
    paper has not) as they are."""
    if not name.startswith("between_") or name.startswith(f"{SAME_INIT}_"):
        return name
    return "between_" + "_".join(sorted(name.removeprefix("between_").split("_", 1)))


@cache
def published() -> pd.DataFrame:
    """One row per (view, metric, condition key) with the paper's diff_mean, p_value, cohen_d, effect."""
    overall = pd.read_csv(PUBLISHED / "table_1.csv")
    frames = [
        overall[["condition", *(f"{metric}.{stat}" for stat in STATS)]]
        .rename(columns={f"{metric}.{stat}": stat for stat in STATS})
        .assign(layer=OVERALL, metric=metric)
        for metric in METRIC_TITLES
    ]
    frames += [pd.read_csv(PUBLISHED / name).assign(metric=metric) for metric, name in _LAYER_TABLES.items()]
    table = pd.concat(frames, ignore_index=True)
    table["condition"] = table["condition"].map(condition_key)
    return table.set_index(["layer", "metric", "condition"])


def paper_comparison(stats: pd.DataFrame) -> pd.DataFrame:
    """Ours against the paper for every (view, metric, condition) both have: each side's diff_mean,
    p_value (Welch over pairs), cohen_d and effect, our Holm-adjusted p, our ticket-level p (raw and Holm),
    and whether the difference points the same way (`same_direction`). Empty when no condition of ours was
    published."""
    ours = stats[stats["diff_mean"].notna()].copy()
    ours["key"] = ours["condition"].map(condition_key)
    paper = published()
    rows = []
    for row in ours.to_dict("records"):
        index = (row["layer"], row["metric"], row["key"])
        if index not in paper.index:
            continue
        theirs = paper.loc[index]
        rows.append(
            {
                "layer": row["layer"],
                "metric": METRIC_TITLES[row["metric"]],
                "condition": row["condition"],
                **{f"paper_{stat}": theirs[stat] for stat in STATS},
                **{f"our_{stat}": row[stat] for stat in STATS},
                "our_p_holm": row["p_holm"],
                "our_p_tickets": row["p_tickets"],
                "our_p_holm_tickets": row["p_holm_tickets"],
                "same_direction": bool(np.sign(row["diff_mean"]) == np.sign(theirs["diff_mean"])),
            }
        )
    return pd.DataFrame(rows)
