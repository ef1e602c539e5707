"""Signed kernel patterns of the first conv layer: counts on constructed kernels, random tickets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_fixtures import PAPER_PRUNED, conv2_shapes, random_signed

from analysis.patterns import NEIGHBOURS, kernel_patterns

# three filters of one in-channel each: + + . / . . . / . . −,  + . + / . . . / + . .,  and an empty one
KERNELS = np.array(
    [
        [[1, 1, 0], [0, 0, 0], [0, 0, -1]],
        [[1, 0, 1], [0, 0, 0], [1, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    ],
    dtype=np.int8,
)[:, None]


def test_neighbours_are_the_twelve_adjacent_position_pairs():
    assert len(NEIGHBOURS) == 12
    assert all(abs(p // 3 - q // 3) + abs(p % 3 - q % 3) == 1 for p, q in NEIGHBOURS)


def test_counts_on_constructed_kernels():
    p = kernel_patterns([KERNELS, KERNELS])  # the same conv1 in two tickets: every count doubles
    assert p.tickets == 2
    assert p.filter_histogram.tolist() == [2, 0, 0, 4, 0, 0, 0, 0, 0, 0]
    assert p.filter_count_std == pytest.approx(math.sqrt(2))  # counts 3, 3, 0 (twice)
    assert p.position_counts.tolist() == [[[4, 2, 2], [0, 0, 0], [2, 0, 2]]]
    assert p.position_count_std == pytest.approx(np.std([4, 2, 2, 0, 0, 0, 2, 0, 2]))
    assert p.sign_ratio == 5.0
    assert p.kernels_with.tolist() == [2, 0, 0, 4, 0, 0, 0, 0, 0, 0]
    # positive pairs: (0, 1) adjacent in the first kernel; (0, 2), (0, 6), (2, 6) in the second: 1 of 4
    assert p.neighbour_pct_pos == pytest.approx(25.0)
    assert math.isnan(p.neighbour_pct_neg)  # no kernel has two negative weights
    expected_pos = np.zeros((9, 9), dtype=int)
    for kernel in ([0, 1], [0, 2, 6]):
        for r in kernel:
            for q in kernel:
                expected_pos[r, q] += 2
    np.testing.assert_array_equal(p.cooccurrence_pos, expected_pos)
    expected_neg = np.zeros((9, 9), dtype=int)
    expected_neg[[0, 1], 8] = 2
    np.testing.assert_array_equal(p.cooccurrence_neg, expected_neg)
    # a tie: the lower base-3 code first (the first kernel's last position is −, the second's is pruned)
    assert [(pattern.tolist(), count) for pattern, count in p.top_patterns[3]] == [
        (KERNELS[0, 0].tolist(), 2),
        (KERNELS[1, 0].tolist(), 2),
    ]
    assert all(p.top_patterns[n] == [] for n in (2, 4, 5, 6, 7))


def test_top_patterns_are_ordered_by_count():
    kernels = np.zeros((5, 1, 3, 3), dtype=np.int8)
    kernels[:3, 0, 1, :2] = 1  # three times: + + in the middle row
    kernels[3:, 0, 0, [0, 2]] = -1  # twice: − . − on top
    top = kernel_patterns([kernels]).top_patterns[2]
    assert [count for _, count in top] == [3, 2]
    assert top[0][0].tolist() == [[0, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert top[1][0].tolist() == [[-1, 0, -1], [0, 0, 0], [0, 0, 0]]


def test_nine_patterns_per_count_as_in_the_papers_figure():
    # each of the 36 kernels with two remaining positive weights, each appearing a different number of times
    positions = [(p, q) for p in range(9) for q in range(p + 1, 9)]
    kernels = np.zeros((sum(range(1, 37)), 1, 9), dtype=np.int8)
    start = 0
    for times, (p, q) in enumerate(positions, start=1):
        kernels[start : start + times, 0, [p, q]] = 1
        start += times
    top = kernel_patterns([kernels.reshape(-1, 1, 3, 3)]).top_patterns[2]
    assert [count for _, count in top] == list(range(36, 27, -1))


def test_metric_names():
    names = set(kernel_patterns([KERNELS]).metrics())
    assert names == {
        "filter_count_std",
        "position_count_std",
        "sign_ratio",
        "neighbour_pct_pos",
        "neighbour_pct_neg",
        *(f"kernels_with_{n}" for n in range(10)),
    }


def test_random_tickets_sign_ratio_one_and_a_third_of_pairs_neighbours():
    rng = np.random.default_rng(0)
    shapes = {"conv1": conv2_shapes()["conv1"]}
    conv1 = [random_signed(shapes, rng, PAPER_PRUNED)[0] for _ in range(40)]
    p = kernel_patterns(conv1)
    assert p.sign_ratio == pytest.approx(1.0, abs=0.06)
    assert p.neighbour_pct_pos == pytest.approx(100 / 3, abs=2.0)
    assert p.neighbour_pct_neg == pytest.approx(100 / 3, abs=2.0)
    assert p.kernels_with.sum() == 40 * 64 * 3


def test_refuses_layers_that_are_not_3x3_convolutions():
    with pytest.raises(ValueError, match="3, 3"):
        kernel_patterns([np.zeros((4, 3, 5, 5), dtype=np.int8)])
