"""The whole analysis of one model's tickets in memory: conditions and pairs, distances, statistics, kernel
patterns (when the first layer is a 3×3 convolution), and the controls against the ticket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.distances.incoming import chain_problem, ticket_sets
from analysis.distances.nnstd import Distances, pair_distances
from analysis.parallel import thread_map
from analysis.patterns import Patterns, has_kernels, kernel_patterns
from analysis.settings import Settings
from analysis.statistics.conditions import (
    FORMS,
    MIN_PAIRS,
    RANDOM_CONDITION,
    Condition,
    build_conditions,
    eligible_pairs,
    named_generator,
)
from analysis.statistics.controls import COLUMNS as CONTROL_COLUMNS
from analysis.statistics.controls import controls_table
from analysis.statistics.stats import condition_stats
from analysis.tickets.signed import Ticket
from analysis.tickets.store import TrialRun
from lottery.errors import UserError


class NoBaseline(UserError):
    """Too few random tickets for the `random` condition: nothing to compare any condition with."""


@dataclass(frozen=True)
class Analysis:
    settings: Settings
    layer_names: tuple[str, ...]
    tickets: list[Ticket]
    conditions: list[Condition]
    distances: dict[str, dict[str, np.ndarray]]  # condition -> metric -> (pairs, layers)
    tie_spreads: dict[str, dict[str, np.ndarray]]  # condition -> metric -> (pairs,); NaN under `first`
    stats: pd.DataFrame
    pattern_groups: dict[str, np.ndarray]  # group -> indices of its tickets
    patterns: dict[str, Patterns]  # empty where the first layer is not a 3×3 convolution
    notes: list[str]  # conditions and groups skipped for want of tickets, patterns skipped
    # per dataset and control: the controls' final accuracies against the ticket's (statistics.controls)
    controls: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CONTROL_COLUMNS)))


def pattern_groups(
    tickets: Sequence[Ticket], datasets: Sequence[str], k: int | None, seed: int
) -> tuple[dict[str, np.ndarray], list[str]]:
    """`random` (the random pool) and `WTs_<ds>`: up to k tickets each, drawn seeded by (seed, group name)."""
    members = {RANDOM_CONDITION: [i for i, t in enumerate(tickets) if not t.winning]}
    members |= {
        f"WTs_{ds}": [i for i, t in enumerate(tickets) if t.winning and t.dataset == ds] for ds in datasets
    }
    groups, skipped = {}, []
    for name, indices in members.items():
        if not indices:
            skipped.append(f"pattern group {name} skipped: no tickets")
            continue
        chosen = np.array(indices)
        if k is not None and len(chosen) > k:
            chosen = np.sort(named_generator(seed, f"patterns/{name}").choice(chosen, size=k, replace=False))
        groups[name] = chosen
    return groups, skipped


def theta0_units(tickets: Sequence[Ticket]) -> np.ndarray:
    """Each ticket's θ0 as an integer: tickets grown from one θ0 (equal `init`) are one unit of the
    ticket-level test."""
    return np.unique([t.init for t in tickets], return_inverse=True)[1].reshape(-1)


def _conditions(tickets: Sequence[Ticket], settings: Settings) -> tuple[list[Condition], list[str]]:
    """The conditions to compare and the notes of those skipped: none where the layers do not form a chain
    (NNSTD needs one; the patterns and the accuracies do not); NoBaseline where they do and `random` cannot
    be formed."""
    problem = chain_problem(tickets[0].layers) if tickets else None
    if problem is not None:
        return [], [f"distances skipped: {settings.model}'s layers do not form a chain ({problem})"]
    conditions, skipped = build_conditions(tickets, settings.datasets, settings.pairs, settings.seed)
    if not any(c.name == RANDOM_CONDITION for c in conditions):
        pool = np.flatnonzero([not t.winning for t in tickets])
        raise NoBaseline(
            f"no Table 1 for the {settings.model} tickets of {', '.join(settings.datasets)}: its baseline "
            f"`{RANDOM_CONDITION}` has {len(eligible_pairs(tickets, pool, None))} eligible pair(s) of random "
            f"tickets, {MIN_PAIRS} needed, and {FORMS['random']} form it — train more trials (make train … "
            "TRIALS=3), then re-run the analysis"
        )
    return conditions, skipped


def _kernel_pattern_groups(
    tickets: Sequence[Ticket], settings: Settings
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The kernel-pattern groups and the notes of those skipped: none, with a note, where the first layer is
    not a 3×3 convolution."""
    if not tickets or has_kernels(tickets[0].layers[0].shape):
        return pattern_groups(tickets, settings.datasets, settings.k, settings.seed)
    return {}, [f"kernel patterns skipped: {settings.model}'s first layer is not a 3×3 convolution"]


def _condition_distances(
    tickets: Sequence[Ticket], conditions: Sequence[Condition], settings: Settings, log: Callable[[str], None]
) -> dict[str, dict[str, Distances]]:
    """Per condition and metric, the distances of its pairs; each ticket's incoming-edge sets built once,
    however many pairs it sits in."""
    all_pairs = np.concatenate([c.pairs for c in conditions]) if conditions else np.zeros((0, 2), np.int64)
    used, local_pairs = np.unique(all_pairs, return_inverse=True)
    log(
        f"comparing {len(all_pairs)} pairs of {len(used)} tickets in {len(conditions)} conditions "
        f"(NNSTD, NNSTD±; {settings.tie_rule})"
    )
    sets = thread_map(lambda i: ticket_sets(tickets[i].layers), used)
    names = [tickets[i].label for i in used]  # stable across stores, unlike run ids: reproducible draws
    distances = pair_distances(sets, local_pairs.reshape(-1, 2), settings.method, names)
    bounds = np.cumsum([0] + [len(c.pairs) for c in conditions])
    return {
        c.name: {metric: values[start:stop] for metric, values in distances.items()}
        for c, start, stop in zip(conditions, bounds[:-1], bounds[1:], strict=True)
    }


def analyse(
    tickets: Sequence[Ticket],
    settings: Settings,
    layer_names: Sequence[str],
    log: Callable[[str], None] = print,
    runs: Sequence[TrialRun] = (),
) -> Analysis:
    """Distances of every condition's pairs for both metrics (only where the layers form a chain: skipped
    with a note otherwise), their statistics, the kernel patterns (only where the first layer is a 3×3
    convolution: skipped with a note otherwise), and the controls table of the trial `runs` the tickets
    come from.

    `log` receives the skipped conditions, groups and patterns, and progress. NoBaseline (a UserError) when
    the `random` condition cannot be formed, before any distance is computed.
    """
    conditions, skipped = _conditions(tickets, settings)
    groups, skipped_groups = _kernel_pattern_groups(tickets, settings)
    for message in skipped + skipped_groups:
        log(message)
    by_condition = _condition_distances(tickets, conditions, settings, log)
    layer_values = {c: {m: d.layers for m, d in by_metric.items()} for c, by_metric in by_condition.items()}
    spreads = {c: {m: d.spread for m, d in by_metric.items()} for c, by_metric in by_condition.items()}
    return Analysis(
        settings=settings,
        layer_names=tuple(layer_names),
        tickets=list(tickets),
        conditions=conditions,
        distances=layer_values,
        tie_spreads=spreads,
        stats=condition_stats(
            layer_values,
            layer_names,
            settings.alpha,
            pairs={c.name: c.pairs for c in conditions},
            units=theta0_units(tickets),
            tie_spreads=spreads,
        ),
        pattern_groups=groups,
        patterns={
            name: kernel_patterns([tickets[i].layers[0] for i in index]) for name, index in groups.items()
        },
        notes=skipped + skipped_groups,
        controls=controls_table(runs, settings.datasets),
    )
