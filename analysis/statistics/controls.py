"""The controls against the ticket: how well each control trains, next to the final ticket it derives from.

Per dataset, over the analysed trial runs (winning or not), x = the final ticket's test accuracies
(`test_acc` at step R, one per run) and, for each control c present (a registered control of
`lottery.pruning.controls` whose metric `<c>_test_acc` at step R some run logged), y_c = its accuracies:
  ticket_acc_mean = x̄, control_acc_mean = ȳ_c, with ticket_n = |x| and control_n = |y_c|;
  diff_mean = ȳ_c − x̄ (negative: the control trains worse than the ticket), with its 95 % Welch interval
              [diff_ci_low, diff_ci_high];
  p_value   = Welch's two-sample two-sided t-test of y_c against x (scipy.stats.ttest_ind, equal_var=False);
  cohen_d   = (ȳ_c − x̄) / s_p, s_p the pooled SD, with its 95 % interval [d_ci_low, d_ci_high], and
              effect, the label of |d|
— the same statistics and conventions as each condition against `random` (`analysis.statistics.stats`),
unadjusted: each control is one comparison. With fewer than 2 accuracies on either side, the statistics
are NaN (effect `undefined`). "Signs kept trains like the ticket, re-init does not" reads as d ≈ 0 for
one control and a large negative d for the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.statistics.stats import UNDEFINED, unadjusted
from analysis.tickets.store import ACCURACY_METRIC, TrialRun
from lottery.pruning.controls import CONTROLS, control

TICKET = "ticket"  # the final ticket's label where controls are listed with it (metric names)
MIN_RUNS = 2  # a t-test and a pooled SD need two accuracies per side
COMPARED = ("diff_mean", "diff_ci_low", "diff_ci_high", "p_value", "cohen_d", "d_ci_low", "d_ci_high")
COLUMNS = (
    "dataset",
    "control",
    "ticket_n",
    "ticket_acc_mean",
    "control_n",
    "control_acc_mean",
    *COMPARED,
    "effect",
)


def control_metrics() -> dict[str, str]:
    """Each registered control's name → its accuracy metric as its declaration names it, in registry order
    (`random` → `random_test_acc`)."""
    return {name: control(name).acc_metric for name in CONTROLS}


def _accuracies(runs: Sequence[TrialRun], metric: str) -> np.ndarray:
    return np.array([run.accuracies[metric] for run in runs if metric in run.accuracies], dtype=np.float64)


def _compared(y: np.ndarray, x: np.ndarray) -> dict:
    """The comparison of y against x (see the module docstring); NaN with fewer than MIN_RUNS on a side."""
    if min(len(x), len(y)) < MIN_RUNS:
        return {**dict.fromkeys(COMPARED, math.nan), "effect": UNDEFINED}
    comparison = unadjusted(y, x)
    return {**{stat: getattr(comparison, stat) for stat in COMPARED}, "effect": comparison.effect}


def controls_table(runs: Sequence[TrialRun], datasets: Sequence[str]) -> pd.DataFrame:
    """One row per dataset (in `datasets` order) and control present in its runs (in registry order): the
    mean final accuracies of ticket and control and the control's comparison with the ticket."""
    rows = []
    for dataset in datasets:
        of_dataset = [run for run in runs if run.dataset == dataset]
        ticket = _accuracies(of_dataset, ACCURACY_METRIC)
        for label, metric in control_metrics().items():
            accuracies = _accuracies(of_dataset, metric)
            if not len(accuracies):
                continue
            rows.append(
                {
                    "dataset": dataset,
                    "control": label,
                    "ticket_n": len(ticket),
                    "ticket_acc_mean": float(ticket.mean()) if len(ticket) else math.nan,
                    "control_n": len(accuracies),
                    "control_acc_mean": float(accuracies.mean()),
                    **_compared(accuracies, ticket),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
