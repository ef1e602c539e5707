"""Each condition's distances against the `random` control (paper Table 1, A.1, A.2): the paper's test over
pairs, and ours over tickets.

For a condition's distances x and the control's y (s² the sample variance, n − 1):
  diff_mean = x̄ − ȳ;
  diff_ci   = [diff_ci_low, diff_ci_high] = diff_mean ∓ t(0.975; ν)·√(s_x²/n_x + s_y²/n_y), the 95 % Welch
              interval, ν = (s_x²/n_x + s_y²/n_y)² / ((s_x²/n_x)²/(n_x − 1) + (s_y²/n_y)²/(n_y − 1))
              (Welch–Satterthwaite; scipy.stats.ttest_ind(equal_var=False).confidence_interval);
  p_value   = Welch's two-sample two-sided t-test (unequal variances; scipy.stats.ttest_ind), unadjusted
              (as in the paper): it counts every pair as an independent sample;
  p_holm    = p_value Holm-adjusted within its family: one metric × one layer value (`all` is one family,
              each layer its own), every condition but `random` compared with `random`. With the family's m
              finite p-values in ascending order p_(1) ≤ … ≤ p_(m):
              p_holm_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j))   (pingouin.multicomp, method="holm");
              a NaN p-value (constant samples) stays NaN and does not count in m;
  cohen_d   = (x̄ − ȳ) / s_p,  s_p = √(((n_x − 1)·s_x² + (n_y − 1)·s_y²) / (n_x + n_y − 2))  (pooled SD;
              pingouin.compute_effsize);
  d_ci      = [d_ci_low, d_ci_high] = d ∓ t(0.975; n_x + n_y − 2)·se_d,
              se_d = √((n_x + n_y)/(n_x·n_y) + d²/(2(n_x + n_y))), the 95 % interval of Hedges & Olkin
              (1985) as pingouin.compute_esci computes it (a t, not a normal, critical value);
  effect    = the label of |d|:
              negligible < 0.2 ≤ small < 0.5 ≤ medium < 0.8 ≤ large < 1.2 ≤ very large < 2 ≤ huge;
  p_tickets, [diff_ci_low_tickets, diff_ci_high_tickets], dof_tickets = the ticket-level test of the same
              difference (`analysis.statistics.ticket_level`): tickets (their θ0s), not pairs, are the
              independent units; p_holm_tickets = p_tickets Holm-adjusted over the same family as p_holm;
  significant = p_holm_tickets < α  (False when it is NaN): the verdict follows the ticket-level test;
  ticket_share = each condition's share of a pair distance's variance carried by its two tickets (the
              `random` control's too; NaN where its pairs cannot tell ticket effects from pair noise);
  tie_spread  = (rows `all` only) the mean over the condition's pairs of their tie spread (the range of a
              pair's NNSTD or NNSTD± over the draws among tied matchings; NaN with `--ties first`);
  beyond_ties = |diff_mean| > tie_spread(condition) + tie_spread(random): the difference is larger than
              tie-breaking alone could move the two means (tie-breaking moves a pair's value within its
              spread, so a mean within the mean spread).
Every interval is 95 % whatever α. mean and std (sample SD, n − 1) describe each condition, the control
included.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import pingouin
import scipy.stats

from analysis.statistics.conditions import RANDOM_CONDITION
from analysis.statistics.ticket_level import TicketTest, comparison_design, condition_design, ticket_test

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
CONFIDENCE = 0.95  # of both intervals, whatever alpha
_ESCI_DECIMALS = 15  # compute_esci rounds (to 2 decimals by default); 15 keeps ~1e-16


def effect_label(d: float) -> str:
    if math.isnan(d):
        return UNDEFINED
    return next((label for bound, label in EFFECT_BOUNDS if abs(d) < bound), HUGE)


@dataclass(frozen=True)
class Comparison:
    diff_mean: float
    diff_ci_low: float
    diff_ci_high: float
    p_value: float
    p_holm: float
    cohen_d: float
    d_ci_low: float
    d_ci_high: float
    effect: str
    diff_ci_low_tickets: float = math.nan
    diff_ci_high_tickets: float = math.nan
    p_tickets: float = math.nan
    p_holm_tickets: float = math.nan
    dof_tickets: float = math.nan
    significant: bool = False


# each row's statistics, in the order tables show them; the labels are words or yes/no, the rest numbers
STATISTICS = ("mean", "std", "ticket_share", "tie_spread", *Comparison.__dataclass_fields__, "beyond_ties")
LABEL_STATISTICS = ("effect", "significant", "beyond_ties")
NUMERIC_STATISTICS = tuple(stat for stat in STATISTICS if stat not in LABEL_STATISTICS)
OVERALL_ONLY = ("tie_spread", "beyond_ties")  # tie spreads are measured for NNSTD (NNSTD±), not per layer
COLUMNS = ("condition", "metric", "layer", "pairs", *STATISTICS)


def holm(p_values: Sequence[float], alpha: float) -> np.ndarray:
    """Holm-adjusted `p_values` (see the module docstring): NaN stays NaN and is left out of the family."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = pingouin.multicomp(p[finite], alpha=alpha, method="holm")[1]
    return adjusted


def adjust(family: Sequence[Comparison], alpha: float) -> list[Comparison]:
    """The family's comparisons with p_holm and p_holm_tickets over the family, and significant =
    p_holm_tickets < alpha."""
    pairs = holm([c.p_value for c in family], alpha)
    tickets = holm([c.p_tickets for c in family], alpha)
    return [
        replace(c, p_holm=float(p), p_holm_tickets=float(t), significant=bool(t < alpha))  # False for NaN
        for c, p, t in zip(family, pairs, tickets, strict=True)
    ]


def unadjusted(x: np.ndarray, control: np.ndarray) -> Comparison:
    """x against the control over pairs (Welch, Cohen's d), before any adjustment: p_holm NaN, no
    ticket-level test, significant False."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant samples: NaN statistics, reported as such
        welch = scipy.stats.ttest_ind(x, control, equal_var=False)
        p_value = float(welch.pvalue)
        diff_ci = welch.confidence_interval(CONFIDENCE) if math.isfinite(p_value) else (math.nan, math.nan)
        diff = float(np.mean(x) - np.mean(control))
        cohen_d = float(pingouin.compute_effsize(x, control, paired=False, eftype="cohen"))
        d_ci = pingouin.compute_esci(
            stat=cohen_d,
            nx=len(x),
            ny=len(control),
            eftype="cohen",
            confidence=CONFIDENCE,
            decimals=_ESCI_DECIMALS,
        )
    return Comparison(
        diff_mean=diff,
        diff_ci_low=float(diff_ci[0]),
        diff_ci_high=float(diff_ci[1]),
        p_value=p_value,
        p_holm=math.nan,
        cohen_d=cohen_d,
        d_ci_low=float(d_ci[0]),
        d_ci_high=float(d_ci[1]),
        effect=effect_label(cohen_d),
    )


def _with_tickets(comparison: Comparison, test: TicketTest, row: int) -> Comparison:
    return replace(
        comparison,
        diff_ci_low_tickets=float(test.diff_ci_low[row]),
        diff_ci_high_tickets=float(test.diff_ci_high[row]),
        p_tickets=float(test.p_value[row]),
        dof_tickets=float(test.dof[row]),
    )


def scopes(per_layer: np.ndarray, layer_names: Sequence[str]) -> dict[str, np.ndarray]:
    """`all` (the mean over layers, i.e. NNSTD or NNSTD± of each pair) and each layer's distances."""
    return {OVERALL: per_layer.mean(axis=1), **dict(zip(layer_names, per_layer.T, strict=True))}


def _mean_spread(spreads: np.ndarray | None) -> float:
    return math.nan if spreads is None or np.isnan(spreads).all() else float(np.nanmean(spreads))


def _beyond_ties(row: Mapping, control_spread: float) -> bool | None:
    """Whether |diff_mean| exceeds the tie noise of the two conditions (None where not measured)."""
    noise = row["tie_spread"] + control_spread
    return None if math.isnan(noise) or math.isnan(row["diff_mean"]) else bool(abs(row["diff_mean"]) > noise)


def ticket_shares(pairs: np.ndarray, units: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Each row's ticket_share (batch × the condition's pairs; `units`: each ticket's θ0)."""
    if len(pairs) < 2:
        return np.full(len(batch), math.nan)
    return condition_design(pairs, units).ticket_share(batch)


def compare_tickets(
    pairs: np.ndarray, control: np.ndarray, units: np.ndarray, x: np.ndarray, y: np.ndarray
) -> TicketTest:
    """The ticket-level test of each row of x (batch × the condition's pairs) against y's (the control's)."""
    return ticket_test(comparison_design(pairs, control, units), np.concatenate([x, y], axis=1))


def condition_stats(
    distances: Mapping[str, Mapping[str, np.ndarray]],
    layer_names: Sequence[str],
    alpha: float,
    *,
    pairs: Mapping[str, np.ndarray],
    units: Sequence[int],
    tie_spreads: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """One row per condition × metric × layer (`all` = the metric itself, the mean over layers).

    `distances[condition][metric]` is a (pairs, layers) array whose rows are the tickets `pairs[condition]`
    (pairs × 2 ticket indices); `units[ticket]` is the θ0 it grew from. Rows of conditions other than
    `random` carry the comparison with `random` when it is present (else NaN), Holm-adjusted over the
    conditions of the same metric and layer. `tie_spreads[condition][metric]` (pairs; NaN where not drawn)
    gives the `all` rows their tie_spread and, where compared, beyond_ties.
    """
    units = np.asarray(units)
    rows: list[dict] = []
    families: dict[tuple[str, str], list[tuple[int, Comparison]]] = defaultdict(list)
    control = distances.get(RANDOM_CONDITION)
    for condition, by_metric in distances.items():
        for metric, per_layer in by_metric.items():
            views = scopes(per_layer, layer_names)
            batch = np.stack(list(views.values()))
            shares = ticket_shares(pairs[condition], units, batch)
            compared = condition != RANDOM_CONDITION and control is not None and metric in control
            if compared:
                control_scopes = scopes(control[metric], layer_names)
                y = np.stack(list(control_scopes.values()))
                test = compare_tickets(pairs[condition], pairs[RANDOM_CONDITION], units, batch, y)
            spreads = (tie_spreads or {}).get(condition, {}).get(metric)
            for index, (layer, values) in enumerate(views.items()):
                if compared:
                    comparison = _with_tickets(unadjusted(values, control_scopes[layer]), test, index)
                    families[metric, layer].append((len(rows), comparison))
                rows.append(
                    {
                        "condition": condition,
                        "metric": metric,
                        "layer": layer,
                        "pairs": len(values),
                        "mean": float(values.mean()),
                        "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                        "ticket_share": float(shares[index]),
                        "tie_spread": _mean_spread(spreads) if layer == OVERALL else math.nan,
                    }
                )
    control_spreads = {
        row["metric"]: row["tie_spread"]
        for row in rows
        if row["condition"] == RANDOM_CONDITION and row["layer"] == OVERALL
    }
    for (metric, layer), members in families.items():
        indices, raw = zip(*members, strict=True)
        for index, comparison in zip(indices, adjust(raw, alpha), strict=True):
            rows[index].update(asdict(comparison))
            if layer == OVERALL:
                rows[index]["beyond_ties"] = _beyond_ties(rows[index], control_spreads[metric])
    return pd.DataFrame(rows, columns=list(COLUMNS))
