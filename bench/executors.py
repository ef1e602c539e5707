"""Executors: the wall time of N `digits` trials with EXECUTOR=local against EXECUTOR=ray on this machine,
each a whole `python -m experiments.train` (what `make train` runs) into a fresh SQLite store, alternated
in one run. Ray pays a fixed start-up (a local cluster, then torch imported in every worker) and wins by
running trials side by side, one CPU (or a GPU share) each."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIALS, ROUNDS, EPOCHS = 4, 1, 2
REPEATS = 1
EXECUTORS = ("local", "ray")


def train(executor: str, store: Path) -> tuple[float, float]:
    """(seconds to the first trial's start, seconds for the whole command), tracking included."""
    options = f"--dataset digits --trials {TRIALS} --rounds {ROUNDS} --epochs {EPOCHS} --executor {executor}"
    command = [sys.executable, "-m", "experiments.train", *options.split(), "--no-progress-bar"]
    store.mkdir(parents=True, exist_ok=True)  # make train refuses a store in a folder that does not exist
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{store}/mlflow.db")
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    first = None
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            if first is None and ": training in " in line:
                first = time.perf_counter() - started
    if process.returncode != 0 or first is None:
        raise SystemExit(f"{executor}: training failed (exit {process.returncode})")
    return first, time.perf_counter() - started


def main() -> None:
    print(
        f"{TRIALS} digits trials of {ROUNDS + 1} rounds × {EPOCHS} epochs + the random ticket, "
        f"{os.cpu_count()} CPUs, median of {REPEATS}"
    )
    results: dict[str, list[tuple[float, float]]] = {executor: [] for executor in EXECUTORS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(REPEATS):
            for executor in EXECUTORS:
                results[executor].append(train(executor, Path(tmp) / f"{executor}-{repeat}"))
                print(f"  {executor}: {results[executor][-1][1]:.1f} s", flush=True)
    print("| executor | wall time | start-up (to the first trial) | then, s / trial |")
    print("| --- | --- | --- | --- |")
    walls = {}
    for executor in EXECUTORS:
        startup = statistics.median(first for first, _ in results[executor])
        walls[executor] = statistics.median(wall for _, wall in results[executor])
        per_trial = (walls[executor] - startup) / TRIALS
        print(f"| {executor} | {walls[executor]:.1f} s | {startup:.1f} s | {per_trial:.1f} s |")
    print(f"| **ray / local** | **{walls['ray'] / walls['local']:.2f}** | | |")


if __name__ == "__main__":
    main()
