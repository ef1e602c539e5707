"""Conditions and their seeded pairs: names, eligibility (never two tickets sharing θ0, but for the same-θ0
conditions: always), draws."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from analysis.pipeline import pattern_groups
from analysis.statistics.conditions import build_conditions, eligible_pairs
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket

DATASETS = ("digits", "cifar10", "svhn")


def trial_tickets(datasets=DATASETS, trials: int = 6, winning=lambda ds, k: True) -> list[Ticket]:
    """Each trial's random ticket and (if `winning`) winning ticket; trial k shares θ0 across datasets."""
    tickets = []
    for ds in datasets:
        for k in range(trials):
            kinds = (WINNING_KIND, RANDOM_KIND) if winning(ds, k) else (RANDOM_KIND,)
            tickets += [Ticket(ds, k, kind, f"init-{k}", f"run-{ds}-{k}", ()) for kind in kinds]
    return tickets


def test_paper_conditions_in_order():
    conditions, skipped = build_conditions(trial_tickets(), DATASETS, pairs=50, seed=0)
    assert skipped == []
    assert [(c.name, c.category) for c in conditions] == [
        ("random", "random"),
        ("WTs_digits", "WTs"),
        ("WTs_cifar10", "WTs"),
        ("WTs_svhn", "WTs"),
        ("mixed_digits", "mixed"),
        ("mixed_cifar10", "mixed"),
        ("mixed_svhn", "mixed"),
        ("between_digits_cifar10", "between"),
        ("between_same_init_digits_cifar10", "between_same_init"),
        ("between_digits_svhn", "between"),
        ("between_same_init_digits_svhn", "between_same_init"),
        ("between_cifar10_svhn", "between"),
        ("between_same_init_cifar10_svhn", "between_same_init"),
    ]


def test_pairs_never_share_theta0_but_in_the_same_init_conditions_and_follow_their_condition():
    tickets = trial_tickets()
    conditions, _ = build_conditions(tickets, DATASETS, pairs=1000, seed=0)
    for condition in conditions:
        same_init = condition.category == "between_same_init"
        for i, j in condition.pairs:
            a, b = tickets[i], tickets[j]
            assert (a.init == b.init) == same_init
            if condition.category in ("random", "WTs"):
                assert i < j
            kinds = {
                "random": (False, False),
                "WTs": (True, True),
                "mixed": (True, False),
                "between": (True, True),
                "between_same_init": (True, True),
            }
            assert (a.winning, b.winning) == kinds[condition.category]
        if same_init:
            assert len(condition.pairs) == 6  # trial k of one dataset with trial k of the other, k < 6
        if condition.category.startswith("between"):
            first, second = condition.name.split("_")[-2:]
            assert {tickets[i].dataset for i in condition.pairs[:, 0]} == {first}
            assert {tickets[j].dataset for j in condition.pairs[:, 1]} == {second}


def test_eligible_pair_counts():
    tickets = trial_tickets(trials=6)  # 18 random tickets; trial k's 3 share θ0 across datasets
    counts = {c.name: c.eligible for c in build_conditions(tickets, DATASETS, pairs=50, seed=0)[0]}
    assert counts["random"] == 18 * 17 // 2 - 6 * 3
    assert counts["WTs_digits"] == 6 * 5 // 2
    assert counts["mixed_digits"] == 6 * 18 - 6 * 3
    assert counts["between_digits_svhn"] == 6 * 6 - 6
    assert counts["between_same_init_digits_svhn"] == 6


def test_draws_are_seeded_without_repetition_and_capped():
    tickets = trial_tickets()
    first, _ = build_conditions(tickets, DATASETS, pairs=20, seed=3)
    again, _ = build_conditions(tickets, DATASETS, pairs=20, seed=3)
    other, _ = build_conditions(tickets, DATASETS, pairs=20, seed=4)
    for a, b in zip(first, again, strict=True):
        assert len(a.pairs) == min(20, a.eligible)
        assert len({tuple(pair) for pair in a.pairs}) == len(a.pairs)
        np.testing.assert_array_equal(a.pairs, b.pairs)
    assert any(not np.array_equal(a.pairs, c.pairs) for a, c in zip(first, other, strict=True))


def test_a_conditions_draw_does_not_depend_on_the_others():
    tickets = trial_tickets()
    alone = {c.name: c.pairs for c in build_conditions(tickets, ("digits",), pairs=5, seed=0)[0]}
    together = {c.name: c.pairs for c in build_conditions(tickets, DATASETS, pairs=5, seed=0)[0]}
    np.testing.assert_array_equal(alone["WTs_digits"], together["WTs_digits"])


def test_a_repeated_dataset_forms_no_conditions():
    with pytest.raises(ValueError, match="repeat digits"):
        build_conditions(trial_tickets(), ("digits", "svhn", "digits"), pairs=50, seed=0)


def test_one_dataset_with_three_trials():
    tickets = trial_tickets(("digits",), trials=3)
    conditions, skipped = build_conditions(tickets, ("digits",), pairs=50, seed=0)
    assert [(c.name, c.eligible, len(c.pairs)) for c in conditions] == [
        ("random", 3, 3),
        ("WTs_digits", 3, 3),
        ("mixed_digits", 6, 6),
    ]
    assert skipped == []


def test_conditions_without_enough_tickets_are_skipped_with_a_message():
    # one trial of digits: one random ticket and one winning ticket sharing its θ0 -> nothing to pair
    tickets = trial_tickets(("digits",), trials=1)
    conditions, skipped = build_conditions(tickets, ("digits",), pairs=50, seed=0)
    assert conditions == []
    assert len(skipped) == 3 and all("skipped" in message for message in skipped)
    assert "random" in skipped[0] and "0 eligible" in skipped[0]


def test_non_winning_trials_give_only_random_tickets():
    tickets = trial_tickets(("digits",), trials=4, winning=lambda ds, k: k < 2)
    conditions, skipped = build_conditions(tickets, ("digits",), pairs=50, seed=0)
    assert {c.name: c.eligible for c in conditions} == {"random": 4 * 3 // 2, "mixed_digits": 2 * 4 - 2}
    assert len(skipped) == 1 and skipped[0].startswith("condition WTs_digits skipped: 1 eligible")


def test_eligible_pairs_within_and_across():
    tickets = [Ticket("d", k, WINNING_KIND, init, "", ()) for k, init in enumerate("aabc")]
    within = eligible_pairs(tickets, np.arange(4), None)
    assert sorted(map(tuple, within)) == [p for p in combinations(range(4), 2) if p != (0, 1)]
    across = eligible_pairs(tickets, np.array([0, 1]), np.array([2, 3, 1]))
    assert sorted(map(tuple, across)) == [(0, 2), (0, 3), (1, 2), (1, 3)]


@pytest.mark.parametrize("k", [None, 2, 10])
def test_pattern_groups_take_up_to_k_tickets_seeded(k):
    tickets = trial_tickets(("digits", "svhn"), trials=4)
    groups, skipped = pattern_groups(tickets, ("digits", "svhn"), k, seed=0)
    assert list(groups) == ["random", "WTs_digits", "WTs_svhn"] and skipped == []
    assert len(groups["random"]) == (8 if k is None else min(k, 8))
    assert all(not tickets[i].winning for i in groups["random"])
    assert all(tickets[i].winning and tickets[i].dataset == "svhn" for i in groups["WTs_svhn"])
    again, _ = pattern_groups(tickets, ("digits", "svhn"), k, seed=0)
    assert all(np.array_equal(groups[name], again[name]) for name in groups)
