"""What `bench.gpu` concludes and records: one line per measure, the decision (which lever trains the most
trials per GPU-second, by how much, the GPUS_PER_TRIAL to use, whether deterministic algorithms stay on), the
JSON of every figure, and the table of docs/benchmarks.md's GPU section (between its markers; the rest of the
page untouched)."""

from __future__ import annotations

import json
from pathlib import Path

START, END = "<!-- bench-gpu:start -->", "<!-- bench-gpu:end -->"
# Fewer processes per GPU are preferred while they reach this share of the best throughput (less memory).
NEAR_BEST = 0.95
# Deterministic algorithms stay on while they cost at most this factor in ms/step (M9).
DETERMINISM_BUDGET = 1.10
TITLES = {
    "m0": "M0 machine",
    "m1": "M1 `fit` as a trial calls it",
    "m2": "M2 plain eager loop",
    "m3": "M3 fused Adam, foreach mask",
    "m4": "M4 the step as a CUDA graph",
    "m5": "M5 torch.compile, reduce-overhead",
    "m6": "M6 vmap population of K trials",
    "m7": "M7 N processes per GPU",
    "m8": "M8 precision and layout",
    "m9": "M9 determinism",
    "checks": "checks",
}


def per_s(ms_per_step: float, trials: int = 1) -> float:
    """Trial-steps per second."""
    return 1000 * trials / ms_per_step


def ms(figures: dict) -> str:
    return f"{figures['ms_per_step']:.3f} ms/step"


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def measured(results: dict, key: str):
    """The figures of measure `key`; None where it was skipped or failed."""
    figures = results.get(key)
    return None if figures is None or "error" in figures else figures


def line(key: str, figures) -> str:
    """Measure `key`'s figures in one line."""
    if figures is None:
        return "skipped: needs CUDA"
    if "error" in figures:
        return f"failed: {figures['error']}"
    if key == "m1":
        syncs = figures["host_syncs_per_step"]
        counted = "n/a (CUDA only)" if syncs is None else f"{syncs:.3f}"
        return f"{ms(figures)} over {figures['steps']} steps, host syncs/step {counted}"
    if key in ("m2", "m3"):
        return ms(figures)
    if key == "m4":
        return f"{ms(figures)}, bit for bit equal to M3: {figures['bitwise_equal_m3']}"
    if key == "m5":
        if figures.get("compile_s") is None:
            return figures["note"]
        return f"{ms(figures)} after {figures['compile_s']:.1f} s of compilation"
    if key == "m6":
        return "; ".join(
            f"K={row['trials']}: {row['ms_per_step'] / row['trials']:.3f} ms/trial-step, "
            f"peak {mib(row['peak_mib'])}"
            for row in figures
        )
    if key == "m7":
        return "; ".join(
            f"N={row['processes']}: {row['trial_steps_per_s']:.0f} trial-steps/s, "
            f"device {mib(row['device_in_use_mib'])}"
            for row in figures
        )
    if key == "m8":
        return f"on the {figures['path']} path: " + "; ".join(
            f"{name} {value:.3f} ms/step" for name, value in figures.items() if name != "path"
        )
    if key == "m9":
        return (
            f"off: equal {figures['off']['bitwise_equal']}, {ms(figures['off'])}; "
            f"on: equal {figures['on']['bitwise_equal']}, {ms(figures['on'])}; cost {figures['cost']:.2f}×"
        )
    if key == "checks":
        return "; ".join(f"{name}: {passed(value)}" for name, value in figures.items())
    return "; ".join(f"{name}: {value}" for name, value in figures.items())


def passed(check) -> bool:
    """A check's verdict: itself, or all its verdicts (`passed`, or every boolean it holds)."""
    if isinstance(check, bool):
        return check
    if "passed" in check:
        return check["passed"]
    return all(value for value in check.values() if isinstance(value, bool))


def decide(results: dict) -> dict:
    """The levers, in trial-steps per second of one GPU, against one trial's M3 step: the CUDA graph (M4), the
    best population (M6), the fewest processes per GPU within 5 % of the best (M7); the winner, its factor
    over M3 and over the runner-up, the GPUS_PER_TRIAL for today's trials, whether determinism stays on."""
    levers, chosen = {}, None
    if graph := measured(results, "m4"):
        levers["CUDA graph"] = per_s(graph["ms_per_step"])
    if population := measured(results, "m6"):
        best = max(population, key=lambda row: per_s(row["ms_per_step"], row["trials"]))
        levers[f"population of {best['trials']}"] = per_s(best["ms_per_step"], best["trials"])
    if processes := measured(results, "m7"):
        top = max(row["trial_steps_per_s"] for row in processes)
        near = [row for row in processes if row["trial_steps_per_s"] >= NEAR_BEST * top]
        chosen = min(near, key=lambda row: row["processes"])
        plural = "es" if chosen["processes"] > 1 else ""
        levers[f"{chosen['processes']} process{plural} per GPU"] = chosen["trial_steps_per_s"]
    ranked = sorted(levers.items(), key=lambda item: item[1], reverse=True)
    m3, m9 = measured(results, "m3"), measured(results, "m9")
    return {
        "levers": levers,
        "winner": ranked[0][0] if ranked else None,
        "over_m3": ranked[0][1] / per_s(m3["ms_per_step"]) if ranked and m3 else None,
        "over_runner_up": ranked[0][1] / ranked[1][1] if len(ranked) > 1 else None,
        "gpus_per_trial": round(1 / chosen["processes"], 4) if chosen else None,
        "deterministic_cost": m9["cost"] if m9 else None,
        "keep_deterministic": bool(m9) and m9["cost"] <= DETERMINISM_BUDGET and m9["on"]["bitwise_equal"],
    }


def summary(decision: dict) -> list[str]:
    """The decision, in the lines the command prints last."""
    lines = []
    if decision["winner"]:
        over = f", {decision['over_m3']:.2f}× one trial's M3 step" if decision["over_m3"] else ""
        runner = f", {decision['over_runner_up']:.2f}× the next lever" if decision["over_runner_up"] else ""
        lines.append(f"decision: {decision['winner']} trains the most trials per GPU-second{over}{runner}")
    if decision["gpus_per_trial"]:
        lines.append(f"recommended for today's trials: GPUS_PER_TRIAL={decision['gpus_per_trial']:g} (M7)")
    if decision["deterministic_cost"]:
        keep = (
            "keep them on"
            if decision["keep_deterministic"]
            else "too costly or not exact: see README's caveat"
        )
        lines.append(f"deterministic algorithms cost {decision['deterministic_cost']:.2f}× (M9): {keep}")
    return lines


def table(results: dict) -> str:
    """One row per measure, then the decision."""
    rows = [(TITLES[key], line(key, results[key])) for key in TITLES]
    rows.append(("decision", " ".join(summary(results["decision"]))))
    body = (f"| {title} | {text.replace('|', '/')} |" for title, text in rows)
    return "\n".join(["| measure | result |", "| --- | --- |", *body])


def write(results: dict, json_path: Path, docs_path: Path) -> None:
    """`results` as JSON at `json_path`; the table between the markers of `docs_path`."""
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    page = docs_path.read_text()
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    docs_path.write_text(f"{head}{START}\n{table(results)}\n{END}{tail}")
