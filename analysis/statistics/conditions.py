"""The paper's §5 conditions and their seeded pairs of tickets.

- `random`: two random tickets (the random tickets of every dataset in scope form one pool);
- `WTs_<ds>`: two winning tickets of dataset ds;
- `mixed_<ds>`: a winning ticket of ds and a random ticket from the pool;
- `between_<ds1>_<ds2>`: winning tickets of two datasets, each unordered pair of datasets once;
- `between_same_init_<ds1>_<ds2>`: winning tickets of two datasets that grew from the same θ0 (trial k of
  each dataset, trained with the same seed), next to `between_<ds1>_<ds2>`: how much of the cross-dataset
  likeness a shared θ0 explains, a condition the paper could not form.
A pair is eligible unless its tickets share θ0 (`lottery.init`) — for `between_same_init_*`, only if they do.
Each condition draws up to P eligible pairs without repetition, seeded by (seed, condition name) so a
condition's draw does not depend on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from analysis.tickets.selection import require_distinct
from analysis.tickets.signed import Ticket
from lottery import seeds

RANDOM_CONDITION = "random"
MIN_PAIRS = 2  # a t-test needs at least two distances per condition


@dataclass(frozen=True)
class Condition:
    """A condition: its name, category (`lottery.category`), eligible pair count and drawn pairs.

    `pairs` holds (i, j) indices into the analysis's ticket list.
    """

    name: str
    category: str
    eligible: int
    pairs: np.ndarray


def named_generator(seed: int, name: str) -> np.random.Generator:
    """The generator for condition (or group) `name`: depends on the run's seed and the name only."""
    return seeds.numpy_rng(seed, seeds.name_entropy(name))


def eligible_pairs(
    tickets: Sequence[Ticket], first: np.ndarray, second: np.ndarray | None, same_init: bool = False
) -> np.ndarray:
    """(i, j) with i from `first` and j from `second` (if None: i < j both from `first`), not sharing θ0
    (`same_init`: sharing it)."""
    if second is None:
        i, j = np.triu_indices(len(first), k=1)
        i, j = first[i], first[j]
    else:
        i, j = (grid.ravel() for grid in np.meshgrid(first, second, indexing="ij"))
    inits = np.array([ticket.init for ticket in tickets], dtype=object)
    keep = (inits[i] == inits[j]) if same_init else (inits[i] != inits[j])
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64).reshape(-1, 2)


def draw_pairs(eligible: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `count` rows of `eligible`, drawn without repetition, in the order of `eligible`."""
    if len(eligible) <= count:
        return eligible
    return eligible[np.sort(rng.choice(len(eligible), size=count, replace=False))]


SAME_INIT = "between_same_init"  # the category of the same-θ0 conditions
# What forms MIN_PAIRS eligible pairs of each category ({0}, {1}: the condition's datasets), trial k of every
# dataset sharing θ0 as `make train` grows them: 3 tickets give 3 pairs; two groups of 2 give 4 − 2 = 2.
FORMS = {
    "random": "random tickets of 3 trials",
    "WTs": "winning tickets of 3 trials of {0}",
    "mixed": "winning tickets of 2 trials of {0}",
    "between": "winning tickets of 2 trials of each",
    SAME_INIT: "2 trials winning in both {0} and {1}",
}


def _groups(
    tickets: Sequence[Ticket], datasets: Sequence[str]
) -> list[tuple[str, str, np.ndarray, np.ndarray | None, tuple[str, ...]]]:
    """(name, category, first, second, its datasets) for every condition, in the paper's order, each same-θ0
    condition after the `between` condition of its datasets."""
    is_winning = np.array([t.winning for t in tickets], dtype=bool)
    dataset_of = np.array([t.dataset for t in tickets], dtype=object)
    pool = np.flatnonzero(~is_winning)
    winning = {ds: np.flatnonzero(is_winning & (dataset_of == ds)) for ds in datasets}
    groups = [(RANDOM_CONDITION, "random", pool, None, ())]
    groups += [(f"WTs_{ds}", "WTs", winning[ds], None, (ds,)) for ds in datasets]
    groups += [(f"mixed_{ds}", "mixed", winning[ds], pool, (ds,)) for ds in datasets]
    for a, b in combinations(datasets, 2):
        groups += [
            (f"between_{a}_{b}", "between", winning[a], winning[b], (a, b)),
            (f"{SAME_INIT}_{a}_{b}", SAME_INIT, winning[a], winning[b], (a, b)),
        ]
    return groups


def build_conditions(
    tickets: Sequence[Ticket], datasets: Sequence[str], pairs: int, seed: int
) -> tuple[list[Condition], list[str]]:
    """The conditions with at least MIN_PAIRS eligible pairs, and a message for each one skipped.

    `datasets` must be distinct (ValueError otherwise).
    """
    require_distinct(datasets)
    conditions, skipped = [], []
    for name, category, first, second, of in _groups(tickets, datasets):
        eligible = eligible_pairs(tickets, first, second, same_init=category == SAME_INIT)
        if len(eligible) < MIN_PAIRS:
            skipped.append(
                f"condition {name} skipped: {len(eligible)} eligible pair(s) of tickets "
                f"{'sharing' if category == SAME_INIT else 'not sharing'} θ0, {MIN_PAIRS} needed — "
                f"{FORMS[category].format(*of)} form it; train more trials"
            )
            continue
        drawn = draw_pairs(eligible, pairs, named_generator(seed, name))
        conditions.append(Condition(name=name, category=category, eligible=len(eligible), pairs=drawn))
    return conditions, skipped
