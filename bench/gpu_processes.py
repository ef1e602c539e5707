"""N processes training on one device at once (`bench.gpu`, M7), as trials do under Ray's fractional GPUs
(`GPUS_PER_TRIAL=1/N`): each process holds its own copy of a dataset (both splits, as a trial does) and runs
the M3 step (`bench.gpu_steps.eager`'s) for the same stretch of wall time, started together at a barrier.

Reported: trial-steps per second over all processes, each process's ms/step, its peak memory (torch's
allocator) and the device's memory in use while all of them ran.

The processes start from the multiprocessing context the caller gives; by default `SPAWN`, fresh interpreters:
CUDA cannot run in a process forked from one that initialised it (the measuring process has), and a fresh
interpreter holds only what a trial's process would. A forkserver serves as well (the tests pass one that
preloaded torch, so that each process skips its imports); a plain fork does not.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from multiprocessing.context import BaseContext

import torch

from bench.gpu_steps import EagerStep, Flags, Setup, applied, batch_rows, synchronize, synthetic

SPAWN = multiprocessing.get_context("spawn")
# A process that has not reported this many seconds after its stretch is taken for hung.
_SLACK_SECONDS = 300


def worker(
    model: str, sizes: tuple[int, int], batch_size: int, seconds: float, device: str, barrier, results
):
    """One process: its dataset on `device`, warmed up, then M3 steps for `seconds` after the barrier."""
    torch.set_num_threads(1)
    where = torch.device(device)
    setup = Setup.on(model, *synthetic(sizes[0], where))
    held = synthetic(sizes[1], where, seed=1)  # the test split a trial holds on the device too
    rows = batch_rows(sizes[0], batch_size, 64, where, 0)
    with applied(Flags()):
        step = EagerStep(setup, Flags(), fused=True)
        for index in rows[:3]:  # kernels chosen, allocator warm
            step(index)
        synchronize(where)
        if where.type == "cuda":
            torch.cuda.reset_peak_memory_stats(where)
        barrier.wait()
        steps, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            step(rows[steps % len(rows)])
            steps += 1
        synchronize(where)
        elapsed = time.perf_counter() - started
    report = {"steps": steps, "seconds": elapsed, "peak_mib": None, "device_in_use_mib": None}
    if where.type == "cuda":
        free, total = torch.cuda.mem_get_info(where)
        report.update(
            peak_mib=torch.cuda.max_memory_allocated(where) / 2**20, device_in_use_mib=(total - free) / 2**20
        )
    del held
    results.put(report)


def processes(
    model: str,
    sizes: tuple[int, int],
    batch_size: int,
    seconds: float,
    device: str,
    count: int,
    context: BaseContext = SPAWN,
) -> dict:
    """`count` processes of `worker` side by side, started by `context`: their throughput and memory."""
    barrier, results = context.Barrier(count), context.Queue()
    started = [
        context.Process(target=worker, args=(model, sizes, batch_size, seconds, device, barrier, results))
        for _ in range(count)
    ]
    for process in started:
        process.start()
    reports, deadline = [], time.monotonic() + seconds + _SLACK_SECONDS
    while len(reports) < count:
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            failed = [p.exitcode for p in started if p.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for process in started:
                    process.kill()
                raise RuntimeError(f"M7: a process failed (exit codes {failed}) or hung") from None
    for process in started:
        process.join()
    steps_per_second = sum(r["steps"] / r["seconds"] for r in reports)
    in_use = [r["device_in_use_mib"] for r in reports if r["device_in_use_mib"] is not None]
    peaks = [r["peak_mib"] for r in reports if r["peak_mib"] is not None]
    return {
        "processes": count,
        "trial_steps_per_s": steps_per_second,
        "ms_per_step_each": [1000 * r["seconds"] / r["steps"] for r in reports],
        "peak_mib_each": max(peaks) if peaks else None,
        "device_in_use_mib": max(in_use) if in_use else None,
    }
