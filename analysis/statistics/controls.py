"""The controls against the ticket: how well each control trains, next to the final ticket it derives from.

Each control is derived from its own trial's final ticket, so a control's accuracy and its ticket's are
paired by trial. Per dataset and control c present (a registered control of `lottery.pruning.controls` whose
metric `<c>_test_acc` at step R some run logged), over the analysed trial runs (winning or not) that logged
both: x_k = the final ticket's test accuracy (`test_acc` at step R) of trial k, y_k = the control's, and the
paired differences δ_k = y_k − x_k, k = 1..n:
  trials          = n;
  ticket_acc_mean = x̄, control_acc_mean = ȳ;
  diff_mean = δ̄ = ȳ − x̄ (negative: the control trains worse than the ticket), with its 95 % interval
              [diff_ci_low, diff_ci_high] = δ̄ ∓ t(0.975; n − 1) · s_δ / √n (s_δ the SD of the δ_k);
  p_value   = the paired t-test, t = δ̄ / (s_δ / √n) on n − 1 degrees of freedom, two-sided
              (scipy.stats.ttest_rel), unadjusted: each control is one comparison;
  d_z       = δ̄ / s_δ, the standardised mean difference of paired samples (Cohen's d_z).
A trial's ticket and control share its θ0 and its data order, which a comparison of two independent groups
(Welch) would count as noise: the paired test removes what the trials share. With fewer than 2 trials, or
differences that are all equal, the statistics are NaN. "Signs kept trains like the ticket, re-init does
not" reads as d_z ≈ 0 for one control and a large negative d_z for the other.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis.statistics.stats import CONFIDENCE
from analysis.tickets.store import TrialRun
from lottery.pruning.controls import CONTROLS, control
from lottery.tracking import contract

TICKET = "ticket"  # the final ticket's label where controls are listed with it (metric names)
MIN_TRIALS = 2  # a paired t-test needs two differences
COMPARED = ("diff_mean", "diff_ci_low", "diff_ci_high", "p_value", "d_z")
COLUMNS = ("dataset", "control", "trials", "ticket_acc_mean", "control_acc_mean", *COMPARED)


def control_metrics() -> dict[str, str]:
    """Each registered control's name → its accuracy metric as its declaration names it, in registry order
    (`random` → `random_test_acc`)."""
    return {name: control(name).acc_metric for name in CONTROLS}


def paired(control: np.ndarray, ticket: np.ndarray) -> dict[str, float]:
    """The paired comparison of control against ticket accuracies (see the module docstring)."""
    differences = control - ticket
    spread = float(np.std(differences, ddof=1)) if len(differences) >= MIN_TRIALS else 0.0
    if spread == 0.0 or not math.isfinite(spread):
        return dict.fromkeys(COMPARED, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        test = scipy.stats.ttest_rel(control, ticket)
        interval = test.confidence_interval(CONFIDENCE)
    mean = float(differences.mean())
    return {
        "diff_mean": mean,
        "diff_ci_low": float(interval.low),
        "diff_ci_high": float(interval.high),
        "p_value": float(test.pvalue),
        "d_z": mean / spread,
    }


def controls_table(runs: Sequence[TrialRun], datasets: Sequence[str]) -> pd.DataFrame:
    """One row per dataset (in `datasets` order) and control present in its runs (in registry order): the
    mean final accuracies of ticket and control over the trials that logged both, and their paired
    comparison."""
    rows = []
    for dataset in datasets:
        of_dataset = [run for run in runs if run.dataset == dataset]
        for label, metric in control_metrics().items():
            both = [run for run in of_dataset if {metric, contract.TEST_ACC} <= run.accuracies.keys()]
            if not any(metric in run.accuracies for run in of_dataset):
                continue
            ticket = np.array([run.accuracies[contract.TEST_ACC] for run in both], dtype=np.float64)
            accuracies = np.array([run.accuracies[metric] for run in both], dtype=np.float64)
            rows.append(
                {
                    "dataset": dataset,
                    "control": label,
                    "trials": len(both),
                    "ticket_acc_mean": float(ticket.mean()) if len(both) else math.nan,
                    "control_acc_mean": float(accuracies.mean()) if len(both) else math.nan,
                    **paired(accuracies, ticket),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
