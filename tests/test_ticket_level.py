"""The ticket-level test (`analysis.statistics.ticket_level`): its formulas against a dense computation, its
false-positive rate where pairs share tickets (where Welch over pairs and a variance that ignores the sharing
both fail), θ0 as the unit, and the ticket-level variance share."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from analysis.pipeline import theta0_units
from analysis.statistics.conditions import RANDOM_CONDITION, build_conditions
from analysis.statistics.stats import condition_stats
from analysis.statistics.ticket_level import Design, comparison_design, condition_design, ticket_test
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket

ALPHA = 0.05


def trial_tickets(trials: int) -> list[Ticket]:
    """Each trial's winning and random ticket of one dataset, both grown from its θ0."""
    return [
        Ticket("d", k, kind, f"init-{k}", "", ())
        for k in range(trials)
        for kind in (WINNING_KIND, RANDOM_KIND)
    ]


def comparison(trials: int, condition: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs of the condition then of random, their θ0 units, group) as the analysis draws them (50 each)."""
    tickets = trial_tickets(trials)
    drawn = {c.name: c.pairs for c in build_conditions(tickets, ("d",), 50, seed)[0]}
    pairs, control = drawn[f"{condition}_d"], drawn[RANDOM_CONDITION]
    both = np.concatenate([pairs, control])
    return both, theta0_units(tickets)[both], np.r_[np.zeros(len(pairs)), np.ones(len(control))]


def simulate(pairs: np.ndarray, tickets: int, ratio: float, replications: int, seed: int) -> np.ndarray:
    """Distances u_i + u_j + ε under H0: ticket effects of SD `ratio`, pair noise of SD 1."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, ratio, (replications, tickets))
    return u[:, pairs[:, 0]] + u[:, pairs[:, 1]] + rng.normal(0.0, 1.0, (replications, len(pairs)))


def dense_test(pairs, units, group, distances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V, ν, p) written out with n × n matrices, as the module docstring states them."""
    n = len(pairs)
    w = np.where(group == 0, 1 / (group == 0).sum(), -1 / (group == 1).sum())
    X = np.stack([group == 0, group == 1], axis=1).astype(float)
    M = np.eye(n) - X @ np.linalg.inv(X.T @ X) @ X.T
    Z = np.zeros((n, pairs.max() + 1))
    Z[np.arange(n), pairs[:, 0]] = Z[np.arange(n), pairs[:, 1]] = 1
    clusters = np.zeros((n, units.max() + 1))
    clusters[np.arange(n), units[:, 0]] = clusters[np.arange(n), units[:, 1]] = 1
    K = [np.eye(n), Z @ Z.T]  # Ω = σ_ε² I + σ_u² Z Zᵀ
    A = [M @ k @ M for k in K]  # y_j = eᵀ K_j e = dᵀ M K_j M d
    meat = M @ np.diag(w) @ clusters @ clusters.T @ np.diag(w) @ M
    moments = np.array([[np.trace(a @ k) for k in K] for a in A])
    e = distances @ M
    y = np.stack([np.einsum("bp,pq,bq->b", e, a, e) for a in A], axis=1)
    V, dof = np.zeros(len(e)), np.zeros(len(e))
    for row in range(len(e)):
        active = [0, 1]
        while True:  # set negative variances to 0 and refit the others
            solution = np.linalg.solve(moments[np.ix_(active, active)], y[row, active])
            negative = [c for c, value in zip(active, solution, strict=True) if value < 0]
            if not negative:
                break
            active = [c for c in active if c not in negative]
        sigma = np.zeros(2)
        sigma[active] = solution
        omega = sum(s * k for s, k in zip(sigma, K, strict=True))
        true, expected = w @ omega @ w, np.trace(meat @ omega)
        c = true / expected
        dc = np.array([(w @ k @ w) * expected - true * np.trace(meat @ k) for k in K]) / expected**2
        meat_value = np.einsum("p,pq,q->", e[row], meat, e[row])
        slope = dc @ np.linalg.inv(moments)
        if len(active) < 2:  # the mean of the refitted and the unrefitted equations' derivatives
            refitted = np.zeros(2)
            refitted[active] = dc[active] @ np.linalg.inv(moments[np.ix_(active, active)])
            slope = (slope + refitted) / 2
        gradient = np.r_[c, meat_value * slope]
        forms = [meat, *A]
        covariance = np.array([[2 * np.trace(a @ omega @ b @ omega) for b in forms] for a in forms])
        dof[row] = 2 * true**2 / (gradient @ covariance @ gradient)
        V[row] = c * meat_value
    return V, dof, 2 * scipy.stats.t.sf(np.abs(distances @ w) / np.sqrt(V), dof)


@pytest.mark.parametrize(("trials", "condition", "ratio"), [(5, "WTs", 0.8), (6, "mixed", 0.1)])
def test_the_factored_computation_equals_the_dense_formulas(trials, condition, ratio):
    pairs, units, group = comparison(trials, condition)
    distances = simulate(pairs, 2 * trials, ratio, replications=6, seed=1)
    V, dof, p = dense_test(pairs, units, group, distances)
    result = ticket_test(Design(pairs, units, group), distances)
    assert result.variance == pytest.approx(V, rel=1e-9)
    assert result.dof == pytest.approx(dof, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.diff_mean == pytest.approx(
        distances[:, group == 0].mean(1) - distances[:, group == 1].mean(1)
    )
    half = scipy.stats.t.ppf(0.975, dof) * np.sqrt(V)
    assert result.diff_ci_low == pytest.approx(result.diff_mean - half)
    assert result.diff_ci_high == pytest.approx(result.diff_mean + half)


def rejections(trials: int, condition: str, ratio: float, blind: bool = False) -> tuple[float, float]:
    """(ticket-level, Welch over pairs) false-positive rates at α = 0.05 over 600 replications under H0 (three
    draws of pairs); `blind`: the test is told that every pair has two tickets of its own."""
    ours, welch = [], []
    for seed in range(3):
        pairs, units, group = comparison(trials, condition, seed)
        distances = simulate(pairs, 2 * trials, ratio, replications=200, seed=seed)
        own = np.arange(2 * len(pairs)).reshape(-1, 2)
        design = Design(own, own, group) if blind else Design(pairs, units, group)
        ours.append(ticket_test(design, distances).p_value < ALPHA)
        x, y = distances[:, group == 0], distances[:, group == 1]
        welch.append(scipy.stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue < ALPHA)
    return float(np.mean(ours)), float(np.mean(welch))


@pytest.mark.parametrize("condition", ["WTs", "mixed"])
def test_false_positives_stay_nominal_where_pairs_share_tickets(condition):
    ours, welch = rejections(8, condition, ratio=1.0)
    assert 0.025 <= ours <= 0.085, ours  # 600 replications: ±2.7 standard errors around 5 %
    assert welch > 0.15, welch  # the paper's test counts pairs as independent


def test_a_variance_that_ignores_the_sharing_fails_the_same_check():
    ours, _ = rejections(8, "WTs", 1.0, blind=True)
    assert ours > 0.15, ours


def test_theta0_is_the_unit():
    """Winning and random tickets of one θ0 that move in opposite directions: WTs − random varies twice as
    much as independent tickets would make it; clustering by θ0 sees it, clustering by ticket does not."""
    trials, rates = 8, {}
    for unit in ("θ0", "ticket"):
        rejected = []
        for seed in range(3):
            pairs, units, group = comparison(trials, "WTs", seed)
            rng = np.random.default_rng(seed)
            v = rng.normal(0.0, 1.0, (200, trials))
            effect = np.concatenate([v, -v], axis=1)[
                :, np.argsort(np.r_[0 : 2 * trials : 2, 1 : 2 * trials : 2])
            ]
            distances = effect[:, pairs[:, 0]] + effect[:, pairs[:, 1]] + rng.normal(0, 1, (200, len(pairs)))
            by = units if unit == "θ0" else pairs
            rejected.append(ticket_test(Design(pairs, by, group), distances).p_value < ALPHA)
        rates[unit] = float(np.mean(rejected))
    assert rates["θ0"] <= 0.085 and rates["ticket"] > 0.12, rates


def test_the_variance_matches_the_spread_of_the_difference():
    pairs, units, group = comparison(20, "WTs")
    distances = simulate(pairs, 40, ratio=1.0, replications=2000, seed=4)
    result = ticket_test(Design(pairs, units, group), distances)
    assert result.variance.mean() == pytest.approx(result.diff_mean.var(), rel=0.12)
    # Welch's variance ignores the sharing and is far too small
    x, y = distances[:, group == 0], distances[:, group == 1]
    welch = x.var(axis=1, ddof=1) / x.shape[1] + y.var(axis=1, ddof=1) / y.shape[1]
    assert welch.mean() < 0.5 * result.diff_mean.var()


@pytest.mark.parametrize(("ratio", "share"), [(0.0, 0.0), (0.5, 1 / 3), (1.0, 2 / 3)])
def test_the_ticket_share_recovers_the_simulated_one(ratio, share):
    tickets = trial_tickets(20)
    pairs = build_conditions(tickets, ("d",), 50, 0)[0][0].pairs  # random: 50 of 190 pairs of 20 tickets
    distances = simulate(pairs, 40, ratio, replications=300, seed=5)
    shares = condition_design(pairs, theta0_units(tickets)).ticket_share(distances)
    assert np.median(shares) == pytest.approx(share, abs=0.08)


def test_no_ticket_in_two_pairs_leaves_the_share_undefined_and_the_test_like_welch():
    rng = np.random.default_rng(6)
    pairs = np.arange(40).reshape(20, 2)
    group = np.r_[np.zeros(10), np.ones(10)]
    distances = rng.normal(0.0, 1.0, (1, 20))
    assert math.isnan(Design(pairs[:10], pairs[:10], np.zeros(10)).ticket_share(distances[:, :10])[0])
    result = ticket_test(Design(pairs, pairs, group), distances)
    welch = scipy.stats.ttest_ind(distances[0, :10], distances[0, 10:], equal_var=False)
    assert result.p_value[0] == pytest.approx(welch.pvalue, rel=0.2)


def test_constant_distances_give_no_test():
    pairs, units, group = comparison(4, "WTs")
    result = ticket_test(Design(pairs, units, group), np.full((1, len(pairs)), 0.5))
    assert all(math.isnan(v[0]) for v in (result.p_value, result.diff_ci_low, result.dof))


def test_condition_stats_carries_the_ticket_level_test():
    tickets = trial_tickets(8)
    conditions = build_conditions(tickets, ("d",), 50, 0)[0]
    rng = np.random.default_rng(7)
    u = rng.normal(0.0, 1.0, len(tickets))
    distances = {
        c.name: {"nnstd": (u[c.pairs[:, 0]] + u[c.pairs[:, 1]] + rng.normal(0, 1, len(c.pairs)))[:, None]}
        for c in conditions
    }
    pairs = {c.name: c.pairs for c in conditions}
    units = theta0_units(tickets)
    table = condition_stats(distances, ("l1",), 0.05, pairs=pairs, units=units).set_index(
        ["condition", "layer"]
    )
    random = distances[RANDOM_CONDITION]["nnstd"][:, 0]
    values = np.concatenate([distances["WTs_d"]["nnstd"][:, 0], random])[None]
    expected = ticket_test(comparison_design(pairs["WTs_d"], pairs[RANDOM_CONDITION], units), values)
    row = table.loc[("WTs_d", "all")]
    assert row["p_tickets"] == pytest.approx(expected.p_value[0], rel=1e-12)
    assert row["dof_tickets"] == pytest.approx(expected.dof[0], rel=1e-12)
    assert (row["diff_ci_low_tickets"], row["diff_ci_high_tickets"]) == pytest.approx(
        (expected.diff_ci_low[0], expected.diff_ci_high[0]), rel=1e-12
    )
    share = condition_design(pairs[RANDOM_CONDITION], units)
    assert table.loc[(RANDOM_CONDITION, "all"), "ticket_share"] == pytest.approx(
        share.ticket_share(distances[RANDOM_CONDITION]["nnstd"].T)[0], rel=1e-12
    )
    assert table.loc[("WTs_d", "l1"), "p_tickets"] == pytest.approx(row["p_tickets"], rel=1e-12)


def test_one_pair_per_condition_gives_no_test():
    pairs, units, group = np.array([[0, 2], [1, 3]]), np.array([[0, 1], [0, 1]]), np.array([0, 1])
    result = ticket_test(Design(pairs, units, group), np.array([[0.4, 0.5]]))
    assert result.diff_mean[0] == pytest.approx(-0.1) and math.isnan(result.p_value[0])
