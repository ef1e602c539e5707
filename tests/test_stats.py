"""Statistics against the random control: Welch's t-test and its CI, Cohen's d with the pooled SD and its CI,
effect labels, Holm's adjustment per metric and layer."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats
from analysis_fixtures import stats_of

from analysis.statistics import stats
from analysis.statistics.stats import COLUMNS, effect_label, holm, unadjusted

T_975_DOF_9 = 2.262157162798205  # Student's t, 97.5 % quantile, 9 degrees of freedom (tables)
Z_975 = 1.959963984540054  # standard normal, 97.5 % quantile


def pooled_d(x: np.ndarray, y: np.ndarray) -> float:
    nx, ny = len(x), len(y)
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    return (x.mean() - y.mean()) / pooled


def d_se(d: float, nx: int, ny: int) -> float:
    """Hedges & Olkin's standard error of a two-sample d."""
    return math.sqrt((nx + ny) / (nx * ny) + d**2 / (2 * (nx + ny)))


def holm_by_hand(p_values) -> list[float]:
    """Finite p ascending, the i-th (0-based) times m − i, running maximum, clipped at 1; NaN left out."""
    finite = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(finite)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(finite, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def welch_p(x: np.ndarray, y: np.ndarray) -> float:
    return float(scipy.stats.ttest_ind(x, y, equal_var=False).pvalue)


def test_columns_in_order():
    assert COLUMNS == (
        "condition",
        "metric",
        "layer",
        "pairs",
        "mean",
        "std",
        "ticket_share",
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
        "diff_ci_low_tickets",
        "diff_ci_high_tickets",
        "p_tickets",
        "p_holm_tickets",
        "dof_tickets",
        "significant",
        "beyond_ties",
    )


@pytest.mark.parametrize("shift", [-0.3, 0.0, 0.05, 0.8])
def test_the_pair_level_comparison_equals_welch_and_the_pooled_sd_d(shift):
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5 + shift, 0.1, 37), rng.normal(0.5, 0.2, 50)
    result = unadjusted(x, y)
    welch = scipy.stats.ttest_ind(x, y, equal_var=False)
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert result.cohen_d == pytest.approx(pooled_d(x, y), rel=1e-9)
    assert result.diff_mean == pytest.approx(x.mean() - y.mean())
    assert result.effect == effect_label(pooled_d(x, y))
    # not adjusted yet, and no ticket-level test: no verdict
    assert math.isnan(result.p_holm) and math.isnan(result.p_tickets) and not result.significant


@pytest.mark.parametrize("shift", [-0.3, 0.0, 0.05, 0.8])
def test_the_difference_ci_is_scipys_welch_interval(shift):
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.5 + shift, 0.1, 23), rng.normal(0.5, 0.3, 41)
    ci = scipy.stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    result = unadjusted(x, y)
    assert result.diff_ci_low == pytest.approx(ci.low, rel=1e-12, abs=1e-15)
    assert result.diff_ci_high == pytest.approx(ci.high, rel=1e-12, abs=1e-15)
    assert result.diff_ci_low < result.diff_mean < result.diff_ci_high


@pytest.mark.parametrize("alpha", [0.001, 0.05, 0.2])
def test_the_intervals_are_95_percent_whatever_alpha(alpha):
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.5]), np.array([2.0, 3.5, 4.0, 5.0, 6.0, 7.0])
    ci = scipy.stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    result = unadjusted(x, y)
    assert (result.diff_ci_low, result.diff_ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    half = T_975_DOF_9 * d_se(result.cohen_d, 5, 6)
    assert (result.d_ci_low, result.d_ci_high) == pytest.approx(
        (result.cohen_d - half, result.cohen_d + half), rel=1e-12
    )


def test_welch_by_hand():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.5]), np.array([2.0, 3.5, 4.0, 5.0, 6.0, 7.0])
    vx, vy = x.var(ddof=1) / 5, y.var(ddof=1) / 6
    se = math.sqrt(vx + vy)
    dof = (vx + vy) ** 2 / (vx**2 / 4 + vy**2 / 5)  # Welch–Satterthwaite
    diff = x.mean() - y.mean()
    result = unadjusted(x, y)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(diff) / se, dof), rel=1e-12)
    half = scipy.stats.t.ppf(0.975, dof) * se
    assert (result.diff_ci_low, result.diff_ci_high) == pytest.approx((diff - half, diff + half), rel=1e-12)


def test_d_by_hand():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.5]), np.array([2.0, 3.5, 4.0, 5.0, 6.0, 7.0])
    # means 3.1 and 27.5/6; sample variances 12.2/4 and 16.2083…/5; pooled SD √(28.4083…/9)
    expected = (3.1 - 27.5 / 6) / math.sqrt((12.2 + (16.0 + 1 / 3 - 0.125)) / 9)
    assert unadjusted(x, y).cohen_d == pytest.approx(expected, rel=1e-6)
    assert unadjusted(x, y).cohen_d < 0


def test_the_d_ci_is_compute_esci_and_hedges_olkin_with_a_t_critical_value():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.5]), np.array([2.0, 3.5, 4.0, 5.0, 6.0, 7.0])
    d = (3.1 - 27.5 / 6) / math.sqrt((12.2 + (16.0 + 1 / 3 - 0.125)) / 9)
    result = unadjusted(x, y)
    # by hand: se = √((5 + 6)/(5·6) + d²/(2·11)), d ± t(0.975; 9)·se (the installed pingouin's formula)
    se = math.sqrt(11 / 30 + d**2 / 22)
    assert result.d_ci_low == pytest.approx(d - T_975_DOF_9 * se, rel=1e-9)
    assert result.d_ci_high == pytest.approx(d + T_975_DOF_9 * se, rel=1e-9)
    # pingouin itself: at its default 2 decimals, and unrounded
    rounded = pingouin.compute_esci(stat=d, nx=5, ny=6, eftype="cohen", confidence=0.95)
    assert (result.d_ci_low, result.d_ci_high) == pytest.approx(tuple(rounded), abs=0.005 + 1e-12)
    exact = pingouin.compute_esci(stat=d, nx=5, ny=6, eftype="cohen", confidence=0.95, decimals=15)
    assert (result.d_ci_low, result.d_ci_high) == pytest.approx(tuple(exact), rel=1e-12)
    # not the normal approximation d ± 1.96·se, which is narrower
    assert result.d_ci_high - result.d_ci_low > 2 * Z_975 * se * 1.1


@pytest.mark.parametrize(("nx", "ny", "shift"), [(37, 50, 0.3), (8, 5, -1.0), (100, 100, 0.0)])
def test_the_d_ci_on_random_samples(nx, ny, shift):
    rng = np.random.default_rng(3)
    x, y = rng.normal(shift, 1.0, nx), rng.normal(0.0, 1.5, ny)
    d = pooled_d(x, y)
    half = scipy.stats.t.ppf(0.975, nx + ny - 2) * d_se(d, nx, ny)
    result = unadjusted(x, y)
    assert (result.d_ci_low, result.d_ci_high) == pytest.approx((d - half, d + half), rel=1e-9)
    exact = pingouin.compute_esci(stat=d, nx=nx, ny=ny, eftype="cohen", confidence=0.95, decimals=15)
    assert (result.d_ci_low, result.d_ci_high) == pytest.approx(tuple(exact), rel=1e-12, abs=1e-14)


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


def test_constant_samples_give_undefined_statistics():
    result = unadjusted(np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5]))
    assert math.isnan(result.p_value) and result.effect == "undefined" and not result.significant
    assert math.isnan(result.p_holm)
    assert all(
        math.isnan(v) for v in (result.diff_ci_low, result.diff_ci_high, result.d_ci_low, result.d_ci_high)
    )


@pytest.mark.parametrize(
    ("p_values", "expected"),
    [
        # ascending 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04; running max
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        ([0.3, 0.6, 0.2], [0.6, 0.6, 0.6]),
        ([0.5, 0.6], [1.0, 1.0]),  # clipped at 1
        ([0.02], [0.02]),
        ([0.5, 0.003, 0.32, 0.054, 0.0003], [0.64, 0.012, 0.64, 0.162, 0.0015]),  # pingouin's example
    ],
)
def test_holm_equals_pingouin_and_the_hand_computation(p_values, expected):
    assert holm(p_values, 0.05).tolist() == pytest.approx(expected, rel=1e-12)
    assert holm_by_hand(p_values) == pytest.approx(expected, rel=1e-12)
    assert holm(p_values, 0.05).tolist() == pytest.approx(
        pingouin.multicomp(p_values, alpha=0.05, method="holm")[1].tolist(), rel=1e-12
    )


def test_holm_leaves_nan_out_of_the_family():
    adjusted = holm([0.01, math.nan, 0.04, math.nan, 0.03, 0.005], 0.05)
    expected = [0.03, math.nan, 0.06, math.nan, 0.06, 0.02]  # m = 4, not 6
    assert adjusted.tolist() == pytest.approx(expected, rel=1e-12, nan_ok=True)
    assert holm([0.01, math.nan], 0.05).tolist() == pytest.approx([0.01, math.nan], nan_ok=True)
    assert np.isnan(holm([math.nan, math.nan], 0.05)).all()
    assert holm([], 0.05).size == 0


def test_holm_gives_pingouin_only_the_finite_p_values(monkeypatch):
    """The family size must not depend on how a pingouin version treats NaN."""
    calls = []
    real = pingouin.multicomp

    def spy(pvals, *args, **kwargs):
        calls.append(np.asarray(pvals, dtype=float).tolist())
        return real(pvals, *args, **kwargs)

    monkeypatch.setattr(stats.pingouin, "multicomp", spy)
    holm([0.02, math.nan, 0.01], 0.05)
    holm([math.nan], 0.05)
    assert calls == [[0.02, 0.01]]


def _distances(seed: int, conditions: dict[str, float], metrics=("nnstd", "nnstd_pm"), pairs=12, layers=3):
    rng = np.random.default_rng(seed)
    return {
        name: {metric: rng.normal(0.5 + shift, 0.15, (pairs, layers)) for metric in metrics}
        for name, shift in {"random": 0.0, **conditions}.items()
    }


def test_p_holm_is_holm_over_the_conditions_of_one_metric_and_one_layer():
    layers = ("l1", "l2", "l3")
    distances = _distances(4, {"WTs_a": 0.12, "WTs_b": -0.05, "WTs_c": 0.2, "WTs_d": 0.01})
    table = stats_of(distances, layers, alpha=0.05).set_index(["metric", "layer", "condition"])
    others = ["WTs_a", "WTs_b", "WTs_c", "WTs_d"]
    for metric in ("nnstd", "nnstd_pm"):
        control = distances["random"][metric]
        scopes = {
            "all": lambda a: a.mean(axis=1),
            **{name: (lambda a, k=k: a[:, k]) for k, name in enumerate(layers)},
        }
        for layer, scope in scopes.items():
            raw = [welch_p(scope(distances[c][metric]), scope(control)) for c in others]
            expected = holm_by_hand(raw)  # a family of 4: one metric, one layer, every condition but random
            got = table.loc[[(metric, layer, c) for c in others]]
            assert got["p_value"].tolist() == pytest.approx(raw, rel=1e-9)
            assert got["p_holm"].tolist() == pytest.approx(expected, rel=1e-9)
            assert got["p_holm"].tolist() == pytest.approx(
                pingouin.multicomp(raw, alpha=0.05, method="holm")[1].tolist(), rel=1e-9
            )
            # the ticket-level p-values: Holm over the same family, and the verdict follows them
            tickets = holm_by_hand(got["p_tickets"].tolist())
            assert got["p_holm_tickets"].tolist() == pytest.approx(tickets, rel=1e-9)
            assert got["significant"].tolist() == [p < 0.05 for p in tickets]


def test_a_new_condition_changes_p_holm_in_its_families_only():
    layers = ("l1", "l2", "l3")
    distances = _distances(5, {"WTs_a": 0.1, "WTs_b": 0.15})
    before = stats_of(distances, layers, alpha=0.05).set_index(["condition", "metric", "layer"])
    # the new condition has NNSTD only: the NNSTD families grow from 2 to 3, NNSTD± keep their 2
    distances["WTs_c"] = {"nnstd": np.random.default_rng(6).normal(0.55, 0.15, (12, 3))}
    after = stats_of(distances, layers, alpha=0.05).set_index(["condition", "metric", "layer"])
    old = before.index
    assert after.loc[old, "p_value"].tolist() == pytest.approx(before["p_value"].tolist(), nan_ok=True)
    pm = [key for key in old if key[1] == "nnstd_pm"]
    assert after.loc[pm, "p_holm"].tolist() == pytest.approx(before.loc[pm, "p_holm"].tolist(), nan_ok=True)
    control = distances["random"]["nnstd"]
    for condition in ("WTs_a", "WTs_b"):
        for k, layer in enumerate(layers):
            ps = [welch_p(distances[c]["nnstd"][:, k], control[:, k]) for c in ("WTs_a", "WTs_b", "WTs_c")]
            index = ("WTs_a", "WTs_b").index(condition)
            assert before.loc[(condition, "nnstd", layer), "p_holm"] == pytest.approx(
                holm_by_hand(ps[:2])[index], rel=1e-9
            )
            assert after.loc[(condition, "nnstd", layer), "p_holm"] == pytest.approx(
                holm_by_hand(ps)[index], rel=1e-9
            )
    nnstd = [key for key in old if key[1] == "nnstd" and key[0] != "random"]
    assert (after.loc[nnstd, "p_holm"].to_numpy() > before.loc[nnstd, "p_holm"].to_numpy()).any()


def test_a_layer_is_its_own_family():
    layers = ("l1", "l2")
    distances = _distances(7, {"WTs_a": 0.1, "WTs_b": 0.0}, layers=2)
    before = stats_of(distances, layers, alpha=0.05).set_index(["condition", "metric", "layer"])
    distances["WTs_b"]["nnstd"][:, 1] -= 0.5  # WTs_b far from random in l2 (and so in `all`), not in l1
    after = stats_of(distances, layers, alpha=0.05).set_index(["condition", "metric", "layer"])
    assert after.loc[("WTs_a", "nnstd", "l1"), "p_holm"] == before.loc[("WTs_a", "nnstd", "l1"), "p_holm"]
    assert after.loc[("WTs_a", "nnstd", "l2"), "p_holm"] != before.loc[("WTs_a", "nnstd", "l2"), "p_holm"]
    assert after.loc[("WTs_a", "nnstd", "l2"), "p_value"] == before.loc[("WTs_a", "nnstd", "l2"), "p_value"]


def test_significant_follows_the_holm_adjusted_ticket_level_p_value():
    control = np.array([0.40, 0.45, 0.50, 0.55, 0.60, 0.42, 0.58, 0.47, 0.53, 0.50])
    near = np.array([0.495, 0.545, 0.595, 0.645, 0.515, 0.575, 0.625, 0.535])
    far = np.array([0.41, 0.56, 0.49, 0.52, 0.44, 0.58, 0.50, 0.47])
    distances = {
        name: {"nnstd": values[:, None]} for name, values in {"random": control, "a": near, "b": far}.items()
    }
    table = stats_of(distances, ("l1",), alpha=0.05).set_index(["condition", "layer"])
    p_near, p_far = table.loc[("a", "all"), "p_tickets"], table.loc[("b", "all"), "p_tickets"]
    assert p_near < 0.05 <= 2 * p_near and p_far > 2 * p_near  # Holm: p_near is first, times 2
    for layer in ("all", "l1"):
        assert table.loc[("a", layer), "p_value"] == pytest.approx(welch_p(near, control), rel=1e-9)
        assert table.loc[("a", layer), "p_holm_tickets"] == pytest.approx(2 * p_near, rel=1e-9)
        assert not table.loc[("a", layer), "significant"]
        assert table.loc[("b", layer), "p_holm_tickets"] == pytest.approx(p_far, rel=1e-9)
    # alone in its family, the same comparison is significant
    alone = stats_of({k: distances[k] for k in ("random", "a")}, ("l1",), alpha=0.05)
    assert alone.set_index(["condition", "layer"]).loc[("a", "all"), "significant"]


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, on the constant control
def test_a_nan_p_value_is_left_out_of_the_family():
    control = np.full((6, 1), 0.5)
    varied = np.array([[0.52], [0.55], [0.58], [0.51], [0.6], [0.57]])
    distances = {
        "random": {"nnstd": control},
        "flat": {"nnstd": np.full((5, 1), 0.5)},
        "a": {"nnstd": varied},
    }
    table = stats_of(distances, ("l1",), alpha=0.05).set_index(["condition", "layer"])
    p = welch_p(varied[:, 0], control[:, 0])
    assert math.isnan(table.loc[("flat", "all"), "p_value"]) and math.isnan(
        table.loc[("flat", "all"), "p_holm"]
    )
    assert not table.loc[("flat", "all"), "significant"]
    assert table.loc[("a", "all"), "p_holm"] == pytest.approx(p, rel=1e-9)  # m = 1, not 2


def test_condition_stats_rows():
    rng = np.random.default_rng(1)
    layers = ("l1", "l2")
    distances = {
        "random": {"nnstd": rng.random((6, 2))},
        "WTs_a": {"nnstd": rng.random((4, 2)) * 0.5},
    }
    table = stats_of(distances, layers, alpha=0.01)
    assert list(table.columns) == list(COLUMNS)
    table = table.set_index(["condition", "layer"])
    assert len(table) == 2 * 3
    assert table.loc["random", list(COLUMNS[COLUMNS.index("diff_mean") :])].isna().all().all()
    assert table["tie_spread"].isna().all()  # no spreads given: not measured (`--ties first`)
    overall = distances["WTs_a"]["nnstd"].mean(axis=1)
    assert table.loc[("WTs_a", "all"), "mean"] == pytest.approx(overall.mean())
    assert table.loc[("WTs_a", "all"), "std"] == pytest.approx(overall.std(ddof=1))
    x, control = distances["WTs_a"]["nnstd"][:, 1], distances["random"]["nnstd"][:, 1]
    welch = scipy.stats.ttest_ind(x, control, equal_var=False)
    ci = welch.confidence_interval(0.95)
    row = table.loc[("WTs_a", "l2")]
    assert row["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    assert row["p_holm"] == pytest.approx(welch.pvalue, rel=1e-9)  # the only condition: a family of one
    assert row["cohen_d"] == pytest.approx(pooled_d(x, control), rel=1e-9)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_a_condition_of_one_pair_has_no_sd_and_warns_of_nothing():
    distances = {"random": {"nnstd": np.array([[0.4], [0.5], [0.6]])}, "WTs_a": {"nnstd": np.array([[0.2]])}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Degrees of freedom <= 0" would reach the user's terminal
        table = stats_of(distances, ("l1",), alpha=0.01).set_index(["condition", "layer"])
    assert math.isnan(table.loc[("WTs_a", "all"), "std"]) and table.loc[("WTs_a", "all"), "mean"] == 0.2
    assert table.loc[("random", "all"), "std"] == pytest.approx(0.1)


def test_condition_stats_without_the_control_have_no_comparison():
    table = stats_of({"WTs_a": {"nnstd": np.array([[0.1], [0.3]])}}, ("l1",), alpha=0.01)
    assert table[list(COLUMNS[COLUMNS.index("diff_mean") :])].isna().all().all()
    assert table["mean"].tolist() == pytest.approx([0.2, 0.2])
    assert stats_of({}, ("l1",), alpha=0.01).empty


def test_tie_spreads_and_whether_a_difference_exceeds_them():
    rng = np.random.default_rng(9)
    layers = ("l1", "l2")
    distances = {
        "random": {"nnstd": 0.5 + rng.random((8, 2)) * 0.01},
        "WTs_near": {"nnstd": 0.5 + rng.random((8, 2)) * 0.01},  # diff ~0.001: within the tie noise
        "WTs_far": {"nnstd": 0.4 + rng.random((8, 2)) * 0.01},  # diff ~0.1: far beyond it
    }
    spreads = {
        "random": {"nnstd": np.full(8, 0.004)},
        "WTs_near": {"nnstd": np.array([0.002, 0.006] * 4)},
        "WTs_far": {"nnstd": np.full(8, np.nan)},  # pairs not drawn: no spread, no verdict
    }
    table = stats_of(distances, layers, alpha=0.01, tie_spreads=spreads).set_index(["condition", "layer"])
    assert table.loc[("random", "all"), "tie_spread"] == pytest.approx(0.004)
    assert table.loc[("WTs_near", "all"), "tie_spread"] == pytest.approx(0.004)
    diff = table.loc[("WTs_near", "all"), "diff_mean"]
    assert abs(diff) < 0.008 and table.loc[("WTs_near", "all"), "beyond_ties"] is False
    assert pd.isna(table.loc[("WTs_far", "all"), "tie_spread"])
    assert table.loc[("WTs_far", "all"), "beyond_ties"] is None
    assert table.loc[(slice(None), ["l1", "l2"]), ["tie_spread", "beyond_ties"]].isna().all().all()
    spreads["WTs_far"]["nnstd"] = np.full(8, 0.01)  # 0.01 + 0.004 < |diff| ~0.1
    table = stats_of(distances, layers, alpha=0.01, tie_spreads=spreads).set_index(["condition", "layer"])
    assert table.loc[("WTs_far", "all"), "beyond_ties"] is True
