"""NED, NED±, layer distances and NNSTD / NNSTD±: hand-computed cases, invariances, and the naive oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from analysis_fixtures import (
    PAPER_PRUNED,
    SMALL_SHAPES,
    conv2_shapes,
    naive_nnstd,
    permute_hidden_units,
    random_signed,
)

from analysis.distances.incoming import layer_sets, ticket_sets
from analysis.distances.ned import DENSE_ABOVE, cost_matrix, intersections, ned_from_counts
from analysis.distances.nnstd import Method, nnstd, pair_distance, pair_distances, pair_key

MEDIUM_SHAPES = conv2_shapes(channels=12, side=3, hidden=24)
HALF = dict.fromkeys(PAPER_PRUNED, 0.5)


def first_layer_cost(a: list[list[int]], b: list[list[int]], *, signed: bool, **weight) -> np.ndarray:
    a_sets, b_sets = (layer_sets(np.array(x, dtype=np.int8), block=len(x[0])) for x in (a, b))
    return cost_matrix(a_sets, b_sets, None, signed=signed, **weight)


def test_ned_by_hand():
    # G = {0, 1, 2}, H = {1, 2, 3}: |G △ H| = 2, |G ∪ H| = 4; an empty set against {1, 2, 3}: 3 / 3
    cost = first_layer_cost([[1, 1, 1, 0], [0, 0, 0, 0]], [[0, 1, 1, 1], [0, 0, 0, 0]], signed=False)
    np.testing.assert_allclose(cost, [[0.5, 1.0], [1.0, 0.0]])


def test_ned_pm_by_hand():
    # G⁺ = {0, 2}, H⁺ = {0, 1}: NED 2/3; G⁻ = {1}, H⁻ = {3}: NED 1; NED± = 5/6, while NED(G, H) = 2/4
    a, b = [[1, -1, 1, 0]], [[1, 1, 0, -1]]
    np.testing.assert_allclose(first_layer_cost(a, b, signed=True), [[5 / 6]])
    np.testing.assert_allclose(first_layer_cost(a, b, signed=False), [[0.5]])
    # weighted: NED±_w = w · 2/3 + (1 − w) · 1
    for w in (0.0, 0.25, 1.0):
        weighted = first_layer_cost(a, b, signed=True, positive_weight=w)
        np.testing.assert_allclose(weighted, [[w * 2 / 3 + 1 - w]])


def test_ned_from_counts_empty_sets():
    # sets of sizes 0 and 2 on each side; the two 2-sets are equal
    counts = ned_from_counts(np.array([[0.0, 0.0], [0.0, 2.0]]), np.array([0.0, 2.0]), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(counts, [[0.0, 1.0], [1.0, 0.0]])


def test_layer_distances_by_hand_reorder_next_layer():
    # Layer 1: units of a {0}, {1}; of b {1}, {0, 1}. C = [[1, ½], [0, ½]]: a0 ↔ b1, a1 ↔ b0, d = ½ / 2.
    # Layer 2 then reads b's inputs in the order (b1, b0): its single unit {0} becomes {1}, so d = 1
    # (comparing without the reordering would give 0).
    a = [np.array([[1, 0], [0, 1]]), np.array([[1, 0]])]
    b = [np.array([[0, 1], [1, 1]]), np.array([[1, 0]])]
    assert nnstd(a, b, signed=False) == pytest.approx([0.25, 1.0])


def test_signed_layer_distances_by_hand():
    # Layer 1 C± = [[½, ¼], [0, 1]]: a0 ↔ b1, a1 ↔ b0, d = ¼ / 2; layer 2 of b reordered is [1, −1] = a's.
    a = [np.array([[1, 0], [0, -1]]), np.array([[1, -1]])]
    b = [np.array([[0, -1], [1, 1]]), np.array([[-1, 1]])]
    assert nnstd(a, b, signed=True) == pytest.approx([0.125, 0.0])
    assert nnstd(a, b, signed=False) == pytest.approx([0.25, 0.0])


def test_empty_networks():
    empty = [np.zeros(shape, dtype=np.int8) for shape in SMALL_SHAPES.values()]
    positive = [np.ones(shape, dtype=np.int8) for shape in SMALL_SHAPES.values()]
    assert nnstd(empty, empty, signed=False) == [0.0] * 5
    assert nnstd(empty, empty, signed=True) == [0.0] * 5
    assert nnstd(empty, positive, signed=False) == [1.0] * 5
    assert nnstd(empty, positive, signed=True) == [0.5] * 5  # NED(∅, G⁺) = 1, NED(∅, ∅) = 0


@pytest.mark.parametrize("signed", [False, True])
def test_identical_tickets_are_at_distance_zero(signed):
    # tiny and sparse: some units share their incoming set, so only `first` is sure to pair each with itself
    a = random_signed(SMALL_SHAPES, np.random.default_rng(0))
    assert nnstd(a, [layer.copy() for layer in a], signed=signed, ties="first") == [0.0] * 5
    b = random_signed(MEDIUM_SHAPES, np.random.default_rng(0), HALF)  # every unit's set its own
    assert nnstd(b, [layer.copy() for layer in b], signed=signed) == [0.0] * 5


@pytest.mark.parametrize("signed", [False, True])
def test_consistently_permuted_hidden_units_are_at_distance_zero(signed):
    rng = np.random.default_rng(1)
    a = random_signed(MEDIUM_SHAPES, rng, HALF)
    assert nnstd(a, permute_hidden_units(a, rng), signed=signed) == pytest.approx([0.0] * 5, abs=1e-12)


def test_conv_to_dense_inputs_move_as_channel_blocks():
    rng = np.random.default_rng(2)
    a = random_signed(MEDIUM_SHAPES, rng, HALF)
    b = [layer.copy() for layer in a]
    order = rng.permutation(b[1].shape[0])
    b[1] = b[1][order]  # conv2's filters reordered, dense1's inputs left in place: dense1 now differs
    assert nnstd(a, b, signed=False)[2] > 0.1
    blocks = b[2].reshape(b[2].shape[0], len(order), -1)
    b[2] = blocks[:, order, :].reshape(b[2].shape)  # each channel's block of side² inputs moves with it
    assert nnstd(a, b, signed=False) == pytest.approx([0.0] * 5, abs=1e-12)


@pytest.mark.parametrize("signed", [False, True])
def test_symmetric(signed):
    # dense enough that every layer's optimal matching is unique (ties could send the two directions apart)
    rng = np.random.default_rng(3)
    a, b = random_signed(MEDIUM_SHAPES, rng, HALF), random_signed(MEDIUM_SHAPES, rng, HALF)
    assert nnstd(a, b, signed=signed) == pytest.approx(nnstd(b, a, signed=signed), abs=1e-12)


def test_sign_flips_change_nnstd_pm_only():
    rng = np.random.default_rng(4)
    a = random_signed(MEDIUM_SHAPES, rng, HALF)
    flipped = [-layer for layer in a]
    assert nnstd(a, flipped, signed=False) == [0.0] * 5
    assert min(nnstd(a, flipped, signed=True)) > 0.5  # each unit's G⁺ now faces H⁺ = G⁻, disjoint from it
    partly = [np.where(rng.random(layer.shape) < 0.2, -layer, layer) for layer in a]
    assert nnstd(a, partly, signed=False) == [0.0] * 5
    assert all(0 < d < 0.9 for d in nnstd(a, partly, signed=True))


@pytest.mark.parametrize("pruned", [PAPER_PRUNED, HALF, dict.fromkeys(PAPER_PRUNED, 0.95)])
def test_matches_the_naive_per_pair_loop(pruned):
    rng = np.random.default_rng(5)
    for shapes in (SMALL_SHAPES, MEDIUM_SHAPES):
        a, b = random_signed(shapes, rng, pruned), random_signed(shapes, rng, pruned)
        for signed in (False, True):
            first = nnstd(a, b, signed=signed, ties="first")
            assert first == pytest.approx(naive_nnstd(a, b, signed=signed), abs=1e-12)


@pytest.mark.parametrize("private_kernel", [True, False])
@pytest.mark.parametrize("pruned", [0.9, 0.1])  # the sparse kernel, then the dense product
def test_intersections_equal_the_sparse_product(pruned, private_kernel, monkeypatch):
    if not private_kernel:  # the fallback for a scipy without `_sparsetools`
        monkeypatch.setattr("analysis.distances.ned.csr_matmat", None)
    rng = np.random.default_rng(6)
    a, b = (
        layer_sets(random_signed(MEDIUM_SHAPES, rng, dict.fromkeys(PAPER_PRUNED, pruned))[2], 1).unsigned
        for _ in range(2)
    )
    assert (a.density * b.density > DENSE_ABOVE) == (pruned < 0.5)
    expected = (
        sp.csr_array((a.ones, a.indices, a.indptr), shape=(a.units, a.inputs))
        @ sp.csr_array((b.ones, b.indices, b.indptr), shape=(b.units, b.inputs)).T
    )
    np.testing.assert_array_equal(intersections(a, a.indices, b), expected.toarray())


@pytest.mark.parametrize("ties", ["first", "average"])
def test_pair_distances_runs_every_pair_and_metric(ties):
    rng = np.random.default_rng(7)
    tickets = [random_signed(SMALL_SHAPES, rng) for _ in range(3)]
    sets = [ticket_sets(t) for t in tickets]
    pairs = np.array([[0, 1], [2, 0], [1, 2]])
    method = Method(ties, draws=4, seed=3)
    distances = pair_distances(sets, pairs, method, names=["x", "y", "z"])
    for metric, signed in (("nnstd", False), ("nnstd_pm", True)):
        expected = [
            pair_distance(sets[i], sets[j], signed=signed, method=method, key=pair_key("xyz"[i], "xyz"[j]))
            for i, j in pairs
        ]
        np.testing.assert_array_equal(distances[metric].layers, [e.layers for e in expected])
        np.testing.assert_array_equal(distances[metric].spread, [e.spread for e in expected])


def test_mismatched_networks_are_refused():
    a = random_signed(SMALL_SHAPES, np.random.default_rng(8))
    b = random_signed(MEDIUM_SHAPES, np.random.default_rng(8))
    with pytest.raises(ValueError, match="shapes"):
        nnstd(a, b, signed=False)
    with pytest.raises(ValueError, match="cannot follow"):
        nnstd([a[0], a[3]], [a[0], a[3]], signed=False)  # 12 inputs cannot come from 8 units
