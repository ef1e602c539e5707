"""Each condition's distances against the `random` control (paper Table 1, A.1, A.2).

For a condition's distances x and the control's y:
  diff_mean = x̄ − ȳ;
  p_value   = Welch's two-sample two-sided t-test (unequal variances);
  cohen_d   = (x̄ − ȳ) / s_p,  s_p = √(((n_x − 1)·s_x² + (n_y − 1)·s_y²) / (n_x + n_y − 2))  (pooled SD);
  effect    = the label of |d|:
              negligible < 0.2 ≤ small < 0.5 ≤ medium < 0.8 ≤ large < 1.2 ≤ very large < 2 ≤ huge;
  significant = p_value < α.
mean and std (sample SD, n − 1) describe each condition, the control included.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pingouin

from analysis.statistics.conditions import RANDOM

EFFECT_BOUNDS: tuple[tuple[float, str], ...] = (
    (0.2, "negligible"),
    (0.5, "small"),
    (0.8, "medium"),
    (1.2, "large"),
    (2.0, "very large"),
)
HUGE = "huge"
UNDEFINED = "undefined"  # d is not a number (both samples constant)
OVERALL = "all"  # the layer column's value for NNSTD / NNSTD± themselves


def effect_label(d: float) -> str:
    if math.isnan(d):
        return UNDEFINED
    return next((label for bound, label in EFFECT_BOUNDS if abs(d) < bound), HUGE)


def _column(result: pd.DataFrame, *names: str) -> float:
    """The first of `names` that pingouin returned (0.7 renamed `p-val`, `cohen-d` to `p_val`, `cohen_d`)."""
    for name in names:
        if name in result.columns:
            return float(result[name].iloc[0])
    raise KeyError(f"pingouin.ttest returned none of {names}: columns {list(result.columns)}")


@dataclass(frozen=True)
class Comparison:
    diff_mean: float
    p_value: float
    cohen_d: float
    effect: str
    significant: bool


COLUMNS = ("condition", "metric", "layer", "pairs", "mean", "std", *Comparison.__dataclass_fields__)


def compare(x: np.ndarray, control: np.ndarray, alpha: float) -> Comparison:
    """x against the control: see the module docstring."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant samples: NaN statistics, reported as such
        result = pingouin.ttest(x, control, paired=False, correction=True, alternative="two-sided")
    diff = float(np.mean(x) - np.mean(control))
    p_value = _column(result, "p_val", "p-val")
    # pingouin reports |d| (pooled SD); the sign is the sign of the difference of means
    cohen_d = math.copysign(_column(result, "cohen_d", "cohen-d"), diff)
    significant = bool(p_value < alpha)  # False for NaN
    return Comparison(diff, p_value, cohen_d, effect_label(cohen_d), significant)


def _scopes(per_layer: np.ndarray, layer_names: Sequence[str]) -> dict[str, np.ndarray]:
    """`all` (the mean over layers, i.e. NNSTD or NNSTD± of each pair) and each layer's distances."""
    return {OVERALL: per_layer.mean(axis=1), **dict(zip(layer_names, per_layer.T, strict=True))}


def condition_stats(
    distances: Mapping[str, Mapping[str, np.ndarray]], layer_names: Sequence[str], alpha: float
) -> pd.DataFrame:
    """One row per condition × metric × layer (`all` = the metric itself, the mean over layers).

    `distances[condition][metric]` is a (pairs, layers) array. Rows of conditions other than `random` carry
    the comparison with `random` when it is present (else NaN).
    """
    rows = []
    control = distances.get(RANDOM)
    for condition, by_metric in distances.items():
        for metric, per_layer in by_metric.items():
            control_scopes = _scopes(control[metric], layer_names) if control is not None else {}
            for layer, values in _scopes(per_layer, layer_names).items():
                row = {
                    "condition": condition,
                    "metric": metric,
                    "layer": layer,
                    "pairs": len(values),
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)),
                }
                if condition != RANDOM and control_scopes:
                    row.update(asdict(compare(values, control_scopes[layer], alpha)))
                rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))
