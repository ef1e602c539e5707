"""Calibration of the ticket-level test (`analysis.statistics.ticket_level`) against the paper's Welch test
over pairs: `python -m bench calibration`.

Designs as the analysis forms them (`analysis.statistics.conditions.build_conditions`, 50 pairs per
condition): one dataset of T trials, each with a winning and a random ticket grown from its θ0, so T tickets
per group; `WTs` against `random` (disjoint tickets) and `mixed` against `random` (the random tickets in
both). T = 8 (few tickets) and T = 20 (the paper's). Each batch of replications draws its own pairs (seed).

1. Synthetic, H0 true: distance = μ + u_i + u_j + ε, ticket effects u ~ N(0, r²), pair noise ε ~ N(0, 1),
   r = SD(u)/SD(ε) from 0 to 1. False-positive rates at α = 0.05 and 0.01 of Welch over pairs, of the
   ticket-level test, and of two candidates it was chosen against: the dyadic-robust variance (Aronow, Samii
   & Assenova 2015; G/(G − 1), t with G − 1 degrees of freedom, G θ0 units) and the delete-one-θ0
   jackknife (t with G − 1).
2. Real-ticket-like masks, H0 true, through the real distance code (`analysis.distances`, `--ties first`,
   the cheaper rule; the test does not depend on it) and the ticket-level test, on a small Conv-2-shaped
   network (`tests.analysis_fixtures.SMALL_SHAPES`): each trial's θ0 signs shared by its two tickets, the
   paper's kept fraction per layer (IMP's schedule fixes every ticket's per-layer counts), and each ticket's
   own per-filter unevenness (keep probability f·g per unit, g ~ Gamma with mean 1 and coefficient of
   variation κ ~ U(0, 0.5); the paper's winning tickets' SD of kept weights per filter, 3.0–3.5 against 2.4
   for random ones, is κ ≈ 0.25). Both metrics. 1,000 replications with 8 tickets per group (where the
   method matters most), 500 with 20 (the synthetic part settles the paper's scale): a replication costs up
   to a second of distances.
3. Power of the ticket-level test under the synthetic model with a true difference of Cohen's d = 0.5 and
   0.8 (the size of the paper's smaller effects: NNSTD± mixed_cifar10 d = 0.48, NNSTD mixed_cifar10 0.59,
   mixed_cinic10 0.80) in the `WTs` condition.
4. The cost: the statistics of the paper-scale design, and the ticket-level test's part of them.
About 9 minutes on 2 cores; `bench.calibration_stress` adds stronger ticket effects (half an hour).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.stats

from analysis.distances.incoming import ticket_sets
from analysis.distances.nnstd import METRICS, Method, pair_distances
from analysis.pipeline import theta0_units
from analysis.statistics.conditions import RANDOM_CONDITION, build_conditions
from analysis.statistics.stats import compare_tickets, condition_stats, scopes, ticket_shares
from analysis.statistics.ticket_level import Design, comparison_design, condition_design, ticket_test
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket
from bench.analysis_speed import DATASETS as PAPER_DATASETS
from tests.analysis_fixtures import PAPER_PRUNED, SMALL_SHAPES

DATASET = "digits"
PAIRS = 50
TRIALS = (8, 20)
RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)
ALPHAS = (0.05, 0.01)
EFFECTS = (0.5, 0.8)
POWER_RATIOS = (0.0, 0.35, 1.0)  # 0.35: about what 12 digits trials show (docs/analysis.md)
BATCHES, PER_BATCH = 20, 200  # synthetic: 4,000 replications per setting, 20 draws of pairs
# real-ticket-like masks: (tickets per group, kept fractions per layer / ticket / θ0, replications), 25 per
# draw of pairs; `bench.calibration_stress` runs the kept fractions per ticket and per θ0
REAL_SETTINGS = ((8, "layer", 1000), (20, "layer", 500))
REAL_PER_BATCH = 25
COMPARISONS = ("WTs", "mixed")


def trial_tickets(trials: int, layers=lambda kind, k: ()) -> list[Ticket]:
    """Each trial's winning and random ticket, both grown from its θ0."""
    return [
        Ticket(DATASET, k, kind, f"init-{k}", f"run-{k}", layers(kind, k))
        for k in range(trials)
        for kind in (WINNING_KIND, RANDOM_KIND)
    ]


def comparisons(tickets: list[Ticket], seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`WTs` and `mixed` → (the condition's pairs, random's pairs), as the analysis draws them."""
    conditions = {c.name: c.pairs for c in build_conditions(tickets, (DATASET,), PAIRS, seed)[0]}
    return {name: (conditions[f"{name}_{DATASET}"], conditions[RANDOM_CONDITION]) for name in COMPARISONS}


def _candidates(design: Design, units: np.ndarray, distances: np.ndarray) -> dict[str, np.ndarray]:
    """p-values of the two rejected candidates: dyadic-robust variance and delete-one-θ0 jackknife."""
    w, e = design.w, design.residuals(distances.T).T
    G = design.clusters.shape[1]
    scores = ((e * w) @ design.clusters) ** 2
    dyads = np.unique(np.sort(units, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    distinct = units[:, 0] != units[:, 1]
    dyad_sums = np.zeros((len(e), dyads.max() + 1))
    np.add.at(dyad_sums.T, dyads[distinct], (e * w)[:, distinct].T)
    dyadic = G / (G - 1) * (scores.sum(axis=1) - (dyad_sums**2).sum(axis=1))
    kept = 1.0 - design.clusters.T  # θ0 unit × pairs: the pairs left when the unit is deleted
    weights = [kept[:, design.group == g] for g in (0, 1)]
    means = [
        distances[:, design.group == g] @ (weights[g] / weights[g].sum(axis=1, keepdims=True)).T
        for g in (0, 1)
    ]
    leave_one_out = means[0] - means[1]
    jackknife = (G - 1) / G * ((leave_one_out - leave_one_out.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    diff = distances @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "dyadic-robust, t(G−1)": 2
            * scipy.stats.t.sf(np.abs(diff) / np.sqrt(np.where(dyadic > 0, dyadic, np.nan)), G - 1),
            "jackknife over θ0, t(G−1)": 2 * scipy.stats.t.sf(np.abs(diff) / np.sqrt(jackknife), G - 1),
        }


def synthetic_p(trials: int, ratio: float, effect: float, seed: int, candidates: bool) -> dict[str, dict]:
    """Comparison → method → p-values of PER_BATCH replications over one draw of pairs."""
    rng = np.random.default_rng([seed, trials, int(ratio * 1000), int(effect * 1000)])
    tickets = trial_tickets(trials)
    units = theta0_units(tickets)
    shift = effect * np.sqrt(2 * ratio**2 + 1)  # d · the SD of a pair distance
    result = {}
    for name, (pairs, control) in comparisons(tickets, seed).items():
        both = np.concatenate([pairs, control])
        design = comparison_design(pairs, control, units)
        u = rng.normal(0.0, ratio, (PER_BATCH, len(tickets)))
        distances = u[:, both[:, 0]] + u[:, both[:, 1]] + rng.normal(0.0, 1.0, (PER_BATCH, len(both)))
        distances[:, : len(pairs)] += shift
        x, y = distances[:, : len(pairs)], distances[:, len(pairs) :]
        methods = {
            "Welch over pairs (the paper's)": scipy.stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue,
            "ticket-level (ours)": ticket_test(design, distances).p_value,
        }
        if candidates:
            methods |= _candidates(design, units[both], distances)
        result[name] = methods
    return result


def _rates(p_values: list[np.ndarray]) -> str:
    p = np.concatenate(p_values)
    return " | ".join(f"{100 * np.mean(p < alpha):.1f}" for alpha in ALPHAS)


def synthetic_table(effect: float = 0.0, ratios=RATIOS, candidates: bool = True) -> list[str]:
    """Rows of rejection rates (%) at each α, per design, comparison, SD(u)/SD(ε) and method."""
    lines = []
    for trials in TRIALS:
        for ratio in ratios:
            batches = [synthetic_p(trials, ratio, effect, seed, candidates) for seed in range(BATCHES)]
            for name in COMPARISONS:
                for method in batches[0][name]:
                    rates = _rates([batch[name][method] for batch in batches])
                    lines.append(f"| {trials} | `{name}` | {ratio:g} | {method} | {rates} |")
    return lines


def ticket_like(shapes, signs, kept: dict[str, float], unevenness: float, rng) -> tuple[np.ndarray, ...]:
    """sign(θ0) ⊙ mask, each unit of a layer keeping its weights with probability kept[layer] · g,
    g ~ Gamma(mean 1, CV κ = `unevenness`)."""
    layers = []
    for name, shape in shapes.items():
        g = rng.gamma(unevenness**-2, unevenness**2, shape[0]) if unevenness > 0 else np.ones(shape[0])
        probability = np.clip(kept[name] * g, 0.0, 1.0).reshape(-1, *[1] * (len(shape) - 1))
        layers.append((signs[name] * (rng.random(shape) < probability)).astype(np.int8))
    return tuple(layers)


def real_like_tickets(trials: int, kept_per: str, rng: np.random.Generator) -> list[Ticket]:
    """One replication's tickets: per trial, θ0's signs shared by its two tickets, each ticket with its own
    per-filter unevenness κ ~ U(0, 0.5); kept fractions (`kept_per`) the paper's per layer, as IMP's schedule
    fixes them ("layer"), or one fraction ~ U(0.3, 0.45) for all layers of a ticket ("ticket") or of a
    θ0's two tickets ("θ0")."""
    signs = [
        {n: rng.choice(np.array([-1, 1], np.int8), s) for n, s in SMALL_SHAPES.items()} for _ in range(trials)
    ]
    fractions = rng.uniform(0.3, 0.45, (trials, 2))
    if kept_per == "θ0":
        fractions[:, 1] = fractions[:, 0]

    def kept(kind: str, k: int) -> dict[str, float]:
        if kept_per == "layer":
            return {name: 1 - pruned for name, pruned in PAPER_PRUNED.items()}
        return dict.fromkeys(SMALL_SHAPES, fractions[k, int(kind == RANDOM_KIND)])

    return trial_tickets(
        trials, lambda kind, k: ticket_like(SMALL_SHAPES, signs[k], kept(kind, k), rng.uniform(0, 0.5), rng)
    )


def real_like_batch(
    trials: int, kept_per: str, seed: int, replications: int
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """`replications` replications under H0 over one draw of pairs: fresh tickets each, real distances (both
    metrics); (comparison, metric) → p-values of both tests and the condition's ticket shares."""
    rng = np.random.default_rng([seed, trials, 7])
    tickets = [ticket for _ in range(replications) for ticket in real_like_tickets(trials, kept_per, rng)]
    per_replication = 2 * trials
    drawn = comparisons(tickets[:per_replication], seed)
    needed, index = np.unique(
        np.concatenate([np.concatenate(p) for p in drawn.values()]), axis=0, return_inverse=True
    )
    offsets = per_replication * np.arange(replications)
    sets = [ticket_sets(t.layers) for t in tickets]
    computed = pair_distances(sets, (needed[None] + offsets[:, None, None]).reshape(-1, 2), Method("first"))
    units = theta0_units(tickets[:per_replication])
    result, start = {}, 0
    for name, (pairs, control) in drawn.items():
        both = np.concatenate([pairs, control])
        rows = index[start : start + len(both)]
        start += len(both)
        design = comparison_design(pairs, control, units)
        for metric in METRICS:
            nnstd = computed[metric].layers.mean(axis=1).reshape(replications, len(needed))[:, rows]
            x, y = nnstd[:, : len(pairs)], nnstd[:, len(pairs) :]
            result[name, metric] = {
                "Welch over pairs (the paper's)": scipy.stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue,
                "ticket-level (ours)": ticket_test(design, nnstd).p_value,
                "share": condition_design(pairs, units).ticket_share(x),
            }
    return result


def real_table(settings=REAL_SETTINGS) -> list[str]:
    """Rows of rejection rates (%) under H0 on real-ticket-like masks, and the ticket shares they showed;
    `settings`: (tickets per group, kept fraction drawn per "ticket" or "θ0", replications)."""
    lines = []
    for trials, kept_per, replications in settings:
        draws = range(replications // REAL_PER_BATCH)
        batches = [real_like_batch(trials, kept_per, seed, REAL_PER_BATCH) for seed in draws]
        for key in batches[0]:
            share = np.nanmedian(np.concatenate([batch[key]["share"] for batch in batches]))
            for method in list(batches[0][key])[:2]:
                rates = _rates([batch[key][method] for batch in batches])
                setting = f"| {trials} | {kept_per} | {replications} | `{key[0]}` | {key[1]} | {share:.2f}"
                lines.append(f"{setting} | {method} | {rates} |")
    return lines


def paper_scale_cost(repeats: int = 3) -> list[str]:
    """The statistics of the paper-scale design (80 tickets: 20 winning of each of 3 datasets, 20 random;
    13 conditions, 560 pairs, both metrics, overall and per layer; random distances), and the ticket-level
    test's part of them, medians side by side."""
    tickets = [Ticket(ds, k, WINNING_KIND, f"init-{k}", "", ()) for ds in PAPER_DATASETS for k in range(20)]
    tickets += [Ticket(PAPER_DATASETS[0], k, RANDOM_KIND, f"init-{k}", "", ()) for k in range(20)]
    conditions = build_conditions(tickets, PAPER_DATASETS, PAIRS, 0)[0]
    rng = np.random.default_rng(0)
    layers = ("conv1", "conv2", "dense1", "dense2", "output")
    distances = {c.name: {m: rng.random((len(c.pairs), len(layers))) for m in METRICS} for c in conditions}
    pairs, units = {c.name: c.pairs for c in conditions}, theta0_units(tickets)

    def ticket_level() -> None:
        for name, by_metric in distances.items():
            for metric, values in by_metric.items():
                batch = np.stack(list(scopes(values, layers).values()))
                ticket_shares(pairs[name], units, batch)
                if name != RANDOM_CONDITION:
                    control = np.stack(list(scopes(distances[RANDOM_CONDITION][metric], layers).values()))
                    compare_tickets(pairs[name], pairs[RANDOM_CONDITION], units, batch, control)

    def statistics() -> None:
        condition_stats(distances, layers, 0.01, pairs=pairs, units=units)

    times = {}
    for name, work in (
        ("all statistics, both tests", statistics),
        ("of which the ticket-level test", ticket_level),
    ):
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            runs.append(time.perf_counter() - start)
        times[name] = float(np.median(runs))
    return [f"| {name} | {seconds:.2f} s |" for name, seconds in times.items()]


def main() -> None:
    start = time.perf_counter()
    header = " | ".join(f"α = {alpha:g}" for alpha in ALPHAS)
    print(f"1. Synthetic, H0: false positives (%), {BATCHES * PER_BATCH} replications per row\n")
    print(f"| tickets per group | vs random | SD(u)/SD(ε) | method | {header} |\n|---|---|---|---|---|---|")
    print("\n".join(synthetic_table()), flush=True)
    print("\n2. Real-ticket-like masks, H0: false positives (%)\n")
    print(
        f"| tickets per group | kept fraction per | replications | condition | metric | median ticket share "
        f"| method | {header} |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(real_table()), flush=True)
    for effect in EFFECTS:
        print(
            f"\n3. Power (%) at Cohen's d = {effect:g} in `WTs`, {BATCHES * PER_BATCH} replications per row\n"
        )
        print(
            f"| tickets per group | vs random | SD(u)/SD(ε) | method | {header} |\n|---|---|---|---|---|---|"
        )
        rows = synthetic_table(effect, POWER_RATIOS, candidates=False)
        print("\n".join(row for row in rows if "`WTs`" in row))
    print("\n4. Cost at the paper scale (median of 3)\n\n| statistics | time |\n|---|---|")
    print("\n".join(paper_scale_cost()))
    print(f"\n{time.perf_counter() - start:.0f} s")
