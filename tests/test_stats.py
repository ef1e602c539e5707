"""Statistics against the random control: Welch's t-test, Cohen's d with the pooled SD, effect labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.statistics import stats
from analysis.statistics.stats import compare, condition_stats, effect_label


def pooled_d(x: np.ndarray, y: np.ndarray) -> float:
    nx, ny = len(x), len(y)
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    return (x.mean() - y.mean()) / pooled


@pytest.mark.parametrize("shift", [-0.3, 0.0, 0.05, 0.8])
def test_compare_equals_welch_and_the_pooled_sd_d(shift):
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5 + shift, 0.1, 37), rng.normal(0.5, 0.2, 50)
    result = compare(x, y, alpha=0.01)
    welch = scipy.stats.ttest_ind(x, y, equal_var=False)
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert result.cohen_d == pytest.approx(pooled_d(x, y), rel=1e-9)
    assert result.diff_mean == pytest.approx(x.mean() - y.mean())
    assert result.effect == effect_label(pooled_d(x, y))
    assert result.significant == (welch.pvalue < 0.01)


def test_d_by_hand():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.5]), np.array([2.0, 3.5, 4.0, 5.0, 6.0, 7.0])
    # means 3.1 and 27.5/6; sample variances 12.2/4 and 16.2083…/5; pooled SD √(28.4083…/9)
    expected = (3.1 - 27.5 / 6) / math.sqrt((12.2 + (16.0 + 1 / 3 - 0.125)) / 9)
    assert compare(x, y, alpha=0.05).cohen_d == pytest.approx(expected, rel=1e-6)
    assert compare(x, y, alpha=0.05).cohen_d < 0


@pytest.mark.parametrize(
    ("d", "label"),
    [
        (0.0, "negligible"),
        (0.1999, "negligible"),
        (0.2, "small"),
        (0.4999, "small"),
        (0.5, "medium"),
        (0.7999, "medium"),
        (0.8, "large"),
        (1.1999, "large"),
        (1.2, "very large"),
        (1.9999, "very large"),
        (2.0, "huge"),
        (7.0, "huge"),
        (-0.5, "medium"),
        (-2.0, "huge"),
        (math.nan, "undefined"),
    ],
)
def test_effect_label_boundaries(d, label):
    assert effect_label(d) == label


@pytest.mark.parametrize("names", [("p_val", "cohen_d"), ("p-val", "cohen-d")])
def test_pingouin_column_names_old_and_new(monkeypatch, names):
    frame = pd.DataFrame({names[0]: [0.004], names[1]: [0.9], "T": [3.0]}, index=["T-test"])
    monkeypatch.setattr(stats.pingouin, "ttest", lambda *args, **kwargs: frame)
    result = compare(np.array([1.0, 2.0]), np.array([3.0, 5.0]), alpha=0.01)
    assert (result.p_value, result.cohen_d, result.effect, result.significant) == (0.004, -0.9, "large", True)


def test_constant_samples_give_undefined_statistics():
    result = compare(np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5]), alpha=0.01)
    assert math.isnan(result.p_value) and result.effect == "undefined" and not result.significant


def test_condition_stats_rows():
    rng = np.random.default_rng(1)
    layers = ("l1", "l2")
    distances = {
        "random": {"nnstd": rng.random((6, 2))},
        "WTs_a": {"nnstd": rng.random((4, 2)) * 0.5},
    }
    table = condition_stats(distances, layers, alpha=0.01).set_index(["condition", "layer"])
    assert len(table) == 2 * 3
    assert pd.isna(table.loc[("random", "all"), "diff_mean"])
    overall = distances["WTs_a"]["nnstd"].mean(axis=1)
    assert table.loc[("WTs_a", "all"), "mean"] == pytest.approx(overall.mean())
    assert table.loc[("WTs_a", "all"), "std"] == pytest.approx(overall.std(ddof=1))
    control = distances["random"]["nnstd"]
    expected = compare(distances["WTs_a"]["nnstd"][:, 1], control[:, 1], 0.01)
    assert table.loc[("WTs_a", "l2"), "p_value"] == pytest.approx(expected.p_value)
    assert table.loc[("WTs_a", "l2"), "cohen_d"] == pytest.approx(expected.cohen_d)


def test_condition_stats_without_the_control_have_no_comparison():
    table = condition_stats({"WTs_a": {"nnstd": np.array([[0.1], [0.3]])}}, ("l1",), alpha=0.01)
    assert table[["diff_mean", "p_value", "cohen_d", "effect"]].isna().all().all()
    assert table["mean"].tolist() == pytest.approx([0.2, 0.2])
    assert condition_stats({}, ("l1",), alpha=0.01).empty
