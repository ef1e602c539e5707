"""Analysis speed on synthetic Conv-2 tickets at the paper's sparsity (conv 68.6 %, dense 91.4 %,
output 68.6 % pruned: 91.2 % overall).

1. One pair, both metrics, measured side by side on the same pair: the naive per-unit-pair loop
   (`tests.analysis_fixtures.naive_nnstd`: Python sets, NED = |G △ H| / |G ∪ H| for every unit pair,
   network 2's inputs reordered after each matching) against the vectorised analysis (`ties="first"`, the
   same algorithm). Target: ≥ 150×.
2. Ties: one pair whose layers have tied optimal matchings and one without (a denser pair), each with
   `first` and with `average` (the default draws), side by side.
3. The paper-scale analysis in memory: 80 tickets (3 datasets × 20 winning + 20 random), the paper's 10
   conditions × 50 pairs and the 3 same-θ0 conditions × 20, both metrics, statistics and patterns, once
   with `first` and once with `average`, each in a fresh process so that each has its own peak memory.
   Targets for `average`: ≤ 30 s on 2 cores, peak resident set ≤ 4 GB (generating the tickets included).
   Logging the result to a temporary MLflow store (tables, figures) is timed on its own line; it is not
   part of the target.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time

import numpy as np

from analysis.distances.incoming import ticket_sets
from analysis.distances.nnstd import DEFAULT_DRAWS, METRICS, Method, pair_distance
from analysis.parallel import available_cpus, thread_map
from analysis.pipeline import Settings, analyse
from analysis.reporting.report import log_analysis
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket
from lottery.models.conv2 import Network as Conv2
from lottery.tracking import store
from tests.analysis_fixtures import PAPER_PRUNED, conv2_shapes, naive_nnstd, random_signed

LAYER_NAMES = Conv2.SPEC.layer_names

DATASETS = ("digits", "cifar10", "cinic10")
TRIALS = 20
REPEATS = 5
SPEEDUP_TARGET, SECONDS_TARGET, MEMORY_TARGET_GB = 150, 30, 4


def _both_metrics(sets: list, method: Method) -> dict[str, np.ndarray]:
    a, b = sets
    return {
        metric: pair_distance(a, b, signed=signed, method=method).layers for metric, signed in METRICS.items()
    }


def _median_seconds(work, repeats: int = REPEATS) -> float:
    work()  # warm-up: imports, thread pool, allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _paper_tickets(rng: np.random.Generator) -> list[Ticket]:
    """20 winning tickets per dataset and 20 random ones; trial k's tickets share θ0 across datasets."""
    shapes = conv2_shapes()
    winning = [
        Ticket(ds, k, WINNING_KIND, f"init-{k}", f"{ds}-{k}", tuple(random_signed(shapes, rng)))
        for ds in DATASETS
        for k in range(TRIALS)
    ]
    random = [
        Ticket(
            DATASETS[0], k, RANDOM_KIND, f"init-{k}", f"{DATASETS[0]}-{k}", tuple(random_signed(shapes, rng))
        )
        for k in range(TRIALS)
    ]
    return winning + random


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def _paper_scale(ties: str, log: bool) -> tuple[float, float, int, int, float | None]:
    """(seconds, peak GB, conditions, pairs, seconds to log it or None) of the paper-scale analysis."""
    tickets = _paper_tickets(np.random.default_rng(1))
    start = time.perf_counter()
    settings = Settings(DATASETS, pairs=50, seed=0, ties=ties)
    analysis = analyse(tickets, settings, LAYER_NAMES, log=lambda message: None)
    seconds = time.perf_counter() - start
    peak = _peak_gb()
    logging_s = None
    if log:
        with tempfile.TemporaryDirectory() as folder:
            client = store.connect(f"sqlite:///{folder}/mlflow.db")
            start = time.perf_counter()
            log_analysis(client, analysis, runs=[], notes=[])
            logging_s = time.perf_counter() - start
    pairs = sum(len(c.pairs) for c in analysis.conditions)
    return seconds, peak, len(analysis.conditions), pairs, logging_s


def _in_fresh_process(ties: str, log: bool):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_paper_scale, (ties, log))


def _tie_pairs() -> dict[str, list]:
    """A paper-sparsity pair with tied layers, and a half-pruned pair without ties (incoming sets)."""
    rng = np.random.default_rng(0)
    shapes = conv2_shapes()
    half = dict.fromkeys(PAPER_PRUNED, 0.5)
    return {
        "with ties (paper sparsity)": thread_map(ticket_sets, [random_signed(shapes, rng) for _ in range(2)]),
        "without ties (50 % pruned)": thread_map(
            ticket_sets, [random_signed(shapes, rng, half) for _ in range(2)]
        ),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    a, b = random_signed(conv2_shapes(), rng), random_signed(conv2_shapes(), rng)
    first, average = Method("first"), Method("average")
    fast_s = _median_seconds(lambda: _both_metrics(thread_map(ticket_sets, [a, b]), first))
    start = time.perf_counter()
    naive = {metric: naive_nnstd(a, b, signed=signed) for metric, signed in METRICS.items()}
    slow = time.perf_counter() - start
    vectorised = _both_metrics(thread_map(ticket_sets, [a, b]), first)
    for metric, distances in naive.items():
        assert np.allclose(distances, vectorised[metric]), f"{metric}: vectorised and naive results differ"

    rows = [
        ("one pair, both metrics: naive loop", f"{slow:.1f} s", f"{slow / 2:.1f} s per metric"),
        ("one pair, both metrics: vectorised (first)", f"{fast_s * 1e3:.0f} ms", f"median of {REPEATS}"),
        (
            "speed-up, measured side by side",
            f"{slow / fast_s:.0f}×",
            f"target ≥ {SPEEDUP_TARGET}×: {_verdict(slow / fast_s >= SPEEDUP_TARGET)}",
        ),
    ]
    for name, sets in _tie_pairs().items():
        times = {m.ties: _median_seconds(lambda m=m, s=sets: _both_metrics(s, m)) for m in (first, average)}
        rows.append(
            (
                f"one pair {name}: first / average",
                f"{times['first'] * 1e3:.0f} / {times['average'] * 1e3:.0f} ms",
                f"average / first = {times['average'] / times['first']:.2f} ({DEFAULT_DRAWS} draws each way)",
            )
        )
    results = {ties: _in_fresh_process(ties, log=ties == "average") for ties in ("first", "average")}
    for ties, (seconds, peak, conditions, pairs, _) in results.items():
        target = ties == "average"
        rows += [
            (
                f"paper scale, {ties}: 80 tickets, {conditions} conditions, {pairs} pairs",
                f"{seconds:.1f} s",
                f"target ≤ {SECONDS_TARGET} s: {_verdict(seconds <= SECONDS_TARGET)}" if target else "",
            ),
            (
                f"peak memory, {ties} (resident set)",
                f"{peak:.2f} GB",
                f"target ≤ {MEMORY_TARGET_GB} GB: {_verdict(peak <= MEMORY_TARGET_GB)}" if target else "",
            ),
        ]
    average_s, first_s = results["average"][0], results["first"][0]
    rows += [
        ("paper scale, average / first", f"{average_s / first_s:.2f}", f"{available_cpus()} cores"),
        ("logging it to a temporary MLflow store", f"{results['average'][4]:.1f} s", "not in the target"),
    ]
    width = max(len(row[0]) for row in rows)
    for what, value, note in rows:
        print(f"{what:<{width}}  {value:>15}  {note}")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
