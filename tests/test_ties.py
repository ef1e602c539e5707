"""Ties in NNSTD's matchings: detection, draws among the optimal matchings, and `average` against `first`
(symmetry, relabelling, pairs without ties, the cost of a layer without ties)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_fixtures import PAPER_PRUNED, conv2_shapes, permute_hidden_units, random_signed

from analysis.distances import nnstd as nnstd_module
from analysis.distances.incoming import ticket_sets
from analysis.distances.matching import TIE_TOLERANCE, solve
from analysis.distances.nnstd import Method, nnstd, pair_distance
from analysis.pipeline import Settings, analyse
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket

# small enough to be quick, sparse as the paper's tickets: the first layer's 16 filters keep ~8.5 of 27
# weights, so equal NED values, and ties, are common
TIED_SHAPES = conv2_shapes(channels=16, side=4, hidden=48)
HALF = dict.fromkeys(PAPER_PRUNED, 0.5)
DRAWS = 32


def _pairs(count: int, seed: int, pruned=PAPER_PRUNED) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    return [tuple(random_signed(TIED_SHAPES, rng, pruned) for _ in range(2)) for _ in range(count)]


def _distance(a, b, *, signed: bool, method: Method):
    return pair_distance(ticket_sets(a), ticket_sets(b), signed=signed, method=method)


def test_a_layer_with_ties_is_detected_and_one_without_is_not():
    assert solve(np.zeros((2, 2)), detect_ties=True).tied
    assert not solve(np.array([[0.0, 1.0], [1.0, 0.0]]), detect_ties=True).tied
    # 1/3 + 2/3 against 1/2 + 1/2, equal but for rounding: a tie; a real difference of 1e-9: none
    assert solve(np.array([[1 / 3, 1 / 2], [1 / 2, 2 / 3]]), detect_ties=True).tied
    assert not solve(np.array([[1 / 3, 1 / 2], [1 / 2, 2 / 3 + 1e-9]]), detect_ties=True).tied
    assert not solve(np.zeros((2, 2)), detect_ties=False).tied


def test_draws_are_optimal_and_reach_every_optimal_matching():
    rng = np.random.default_rng(0)
    cost = rng.random((6, 6))
    cost[:, 4:] = cost[:, [3]]  # three equal columns: the rows matched to them may be matched in 3! ways
    layer = solve(cost, detect_ties=True)
    assert layer.tied
    seen = set()
    for _ in range(200):
        matching = layer.draw(rng)
        assert cost[np.arange(6), matching].sum() / 6 == pytest.approx(layer.distance, abs=TIE_TOLERANCE)
        seen.add(tuple(matching))
    assert len(seen) == 6


@pytest.mark.parametrize("signed", [False, True])
def test_average_is_exactly_symmetric_where_first_is_not(signed):
    asymmetric = 0
    for a, b in _pairs(6, seed=1):
        assert nnstd(a, b, signed=signed) == nnstd(b, a, signed=signed)  # bit for bit
        asymmetric += nnstd(a, b, signed=signed, ties="first") != nnstd(b, a, signed=signed, ties="first")
    if not signed:  # NED± has fewer ties: its `first` may happen to be symmetric on these pairs
        assert asymmetric > 0, "no pair where `first` is asymmetric: the test shows nothing"


def test_relabelling_hidden_units_moves_average_by_its_monte_carlo_error_only_but_moves_first():
    """A consistent permutation of the hidden units (filters / neurons and the next layer's inputs) of
    either network. Each draw's NNSTD lies within the pair's spread, so its SD is at most spread / 2
    (Popoviciu) and the SE of an average of 2R draws at most spread / (2 √(2R))."""
    rng = np.random.default_rng(2)
    method = Method("average", draws=DRAWS, seed=0)
    first_moved = 0
    for a, b in _pairs(6, seed=3):
        relabelled = permute_hidden_units(b, rng) if rng.random() < 0.5 else b
        a_relabelled = permute_hidden_units(a, rng) if relabelled is b else a
        before = _distance(a, b, signed=False, method=method)
        after = _distance(a_relabelled, relabelled, signed=False, method=method)
        se = math.hypot(before.spread, after.spread) / (2 * math.sqrt(2 * DRAWS))
        assert abs(before.layers.mean() - after.layers.mean()) <= 4 * se + 1e-12
        first_moved += nnstd(a, b, signed=False, ties="first") != nnstd(
            a_relabelled, relabelled, signed=False, ties="first"
        )
    assert first_moved > 0, "no pair where relabelling moves `first`: the test shows nothing"


@pytest.mark.parametrize("signed", [False, True])
def test_a_pair_without_ties_gives_first_and_average_alike(signed, monkeypatch):
    computed = []
    cost_matrix = nnstd_module.cost_matrix

    def counting(*args, **kwargs):
        computed.append(1)
        return cost_matrix(*args, **kwargs)

    monkeypatch.setattr(nnstd_module, "cost_matrix", counting)
    ((a, b),) = _pairs(1, seed=4, pruned=HALF)  # dense enough that every optimum is unique
    first = nnstd(a, b, signed=signed, ties="first")
    computed.clear()
    average = _distance(a, b, signed=signed, method=Method("average", draws=DRAWS))
    # the same matchings; only the layer sums differ in rounding (`average` sums exactly rounded)
    np.testing.assert_allclose(average.layers, first, rtol=1e-15, atol=0)
    assert average.spread == 0.0
    assert len(computed) == len(first), "a layer without ties must be solved once, not once per draw"


def test_first_is_the_scipy_matching_carried_forward_and_average_the_mean_of_draws():
    ((a, b),) = _pairs(1, seed=5)
    one = _distance(a, b, signed=False, method=Method("average", draws=1, seed=7))
    many = _distance(a, b, signed=False, method=Method("average", draws=DRAWS, seed=7))
    assert one.spread <= many.spread  # the draws of 1 are among the draws of R: same seeds, same start
    again = _distance(a, b, signed=False, method=Method("average", draws=DRAWS, seed=7))
    np.testing.assert_array_equal(many.layers, again.layers)  # seeded: reproducible
    other_seed = _distance(a, b, signed=False, method=Method("average", draws=DRAWS, seed=8))
    assert many.spread > 0 and not np.array_equal(many.layers, other_seed.layers)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"ties": "last"}, "ties must be one of average, first"),
        ({"draws": 0}, "draws must be >= 1"),
        ({"positive_weight": 1.5}, r"positive weight must lie in \[0, 1\]"),
    ],
)
def test_bad_methods_are_refused(method, message):
    with pytest.raises(ValueError, match=message):
        Method(**method)


def test_the_analysis_under_each_rule():
    rng = np.random.default_rng(6)
    tickets = [
        Ticket("digits", k, kind, f"init-{k}", f"run-{k}", tuple(random_signed(TIED_SHAPES, rng)))
        for k in range(4)
        for kind in (WINNING_KIND, RANDOM_KIND)
    ]
    layer_names = list(TIED_SHAPES)
    first, average = (
        analyse(
            tickets, Settings(("digits",), pairs=4, ties=ties, tie_draws=4), layer_names, log=lambda _: None
        )
        for ties in ("first", "average")
    )
    for condition in first.conditions:
        for metric, signed in (("nnstd", False), ("nnstd_pm", True)):
            expected = [
                nnstd(tickets[i].layers, tickets[j].layers, signed=signed, ties="first")
                for i, j in condition.pairs
            ]
            np.testing.assert_array_equal(first.distances[condition.name][metric], expected)
            assert np.isnan(first.tie_spreads[condition.name][metric]).all()
            assert (average.tie_spreads[condition.name][metric] >= 0).all()
    overall = average.stats[average.stats["layer"] == "all"]
    assert overall["tie_spread"].notna().all() and overall["tie_spread"].max() > 0
    assert first.stats["tie_spread"].isna().all()
