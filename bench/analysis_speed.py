"""Analysis speed on synthetic Conv-2 tickets at the paper's sparsity (conv 68.6 %, dense 91.4 %,
output 68.6 % pruned: 91.2 % overall).

1. One pair, both metrics, measured side by side on the same pair: the naive per-unit-pair loop
   (`tests.analysis_fixtures.naive_nnstd`: Python sets, NED = |G △ H| / |G ∪ H| for every unit pair,
   network 2's inputs reordered after each matching) against the vectorised analysis (both tickets'
   incoming sets, then both metrics, on the machine's cores as `make analyze` runs them). Target: ≥ 150×.
2. The paper-scale analysis in memory: 80 tickets (3 datasets × 20 winning + 20 random), 10 conditions × 50
   pairs, both metrics, statistics and patterns. Targets: ≤ 30 s on 2 cores, peak memory ≤ 4 GB (the
   process's peak resident set, which includes generating the tickets). Logging the result to a temporary
   MLflow store (tables, figures) is timed on its own line; it is not part of the target.
"""

from __future__ import annotations

import resource
import tempfile
import time

import numpy as np

from analysis.distances.incoming import ticket_sets
from analysis.distances.nnstd import pair_distances
from analysis.parallel import available_cpus, thread_map
from analysis.pipeline import Settings, analyse
from analysis.reporting.report import log_analysis
from analysis.tickets.signed import RANDOM, WINNING, Ticket
from lottery.models.conv2 import Network as Conv2
from tests.analysis_fixtures import conv2_shapes, naive_nnstd, random_signed

LAYER_NAMES = Conv2.SPEC.layer_names

DATASETS = ("digits", "cifar10", "cinic10")
TRIALS = 20
REPEATS = 5
SPEEDUP_TARGET, SECONDS_TARGET, MEMORY_TARGET_GB = 150, 30, 4


def _vectorised(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, np.ndarray]:
    sets = thread_map(ticket_sets, [a, b])
    return pair_distances(sets, np.array([[0, 1]]))


def _paper_tickets(rng: np.random.Generator) -> list[Ticket]:
    """20 winning tickets per dataset and 20 random ones; trial k's tickets share θ0 across datasets."""
    shapes = conv2_shapes()
    winning = [
        Ticket(ds, k, WINNING, f"init-{k}", f"{ds}-{k}", tuple(random_signed(shapes, rng)))
        for ds in DATASETS
        for k in range(TRIALS)
    ]
    random = [
        Ticket(DATASETS[0], k, RANDOM, f"init-{k}", f"{DATASETS[0]}-{k}", tuple(random_signed(shapes, rng)))
        for k in range(TRIALS)
    ]
    return winning + random


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    rng = np.random.default_rng(0)
    a, b = random_signed(conv2_shapes(), rng), random_signed(conv2_shapes(), rng)
    _vectorised(a, b)  # warm-up: imports, thread pool, allocator
    fast = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        vectorised = _vectorised(a, b)
        fast.append(time.perf_counter() - start)
    start = time.perf_counter()
    naive = {
        metric: naive_nnstd(a, b, signed=signed) for metric, signed in (("nnstd", False), ("nnstd_pm", True))
    }
    slow = time.perf_counter() - start
    for metric, distances in naive.items():
        assert np.allclose(distances, vectorised[metric][0]), f"{metric}: vectorised and naive results differ"
    fast_s = float(np.median(fast))

    tickets = _paper_tickets(rng)
    start = time.perf_counter()
    analysis = analyse(tickets, Settings(DATASETS, pairs=50, seed=0), LAYER_NAMES, log=lambda message: None)
    paper_s = time.perf_counter() - start
    pairs = sum(len(c.pairs) for c in analysis.conditions)
    peak = _peak_gb()
    with tempfile.TemporaryDirectory() as store:
        client = store.connect(f"sqlite:///{store}/mlflow.db")
        start = time.perf_counter()
        log_analysis(client, analysis, runs=[], notes=[])
        logging_s = time.perf_counter() - start

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    rows = [
        ("one pair, both metrics: naive loop", f"{slow:.1f} s", f"{slow / 2:.1f} s per metric (issue: ~6 s)"),
        (
            "one pair, both metrics: vectorised",
            f"{fast_s * 1e3:.0f} ms",
            f"median of {REPEATS}, {available_cpus()} cores",
        ),
        (
            "speed-up, measured side by side",
            f"{slow / fast_s:.0f}×",
            f"target ≥ {SPEEDUP_TARGET}×: {verdict(slow / fast_s >= SPEEDUP_TARGET)}",
        ),
        ("speed-up vs the issue's 6 s per metric", f"{12 / fast_s:.0f}×", "12 s / vectorised"),
        (
            f"paper scale: {len(tickets)} tickets, {len(analysis.conditions)} conditions, {pairs} pairs",
            f"{paper_s:.1f} s",
            f"target ≤ {SECONDS_TARGET} s: {verdict(paper_s <= SECONDS_TARGET)}",
        ),
        (
            "peak memory (resident set)",
            f"{peak:.2f} GB",
            f"target ≤ {MEMORY_TARGET_GB} GB: {verdict(peak <= MEMORY_TARGET_GB)}",
        ),
        (
            "logging it to a temporary MLflow store",
            f"{logging_s:.1f} s",
            "tables and figures; not in the target",
        ),
    ]
    width = max(len(row[0]) for row in rows)
    for what, value, note in rows:
        print(f"{what:<{width}}  {value:>9}  {note}")
