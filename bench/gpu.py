"""`make bench-gpu` (`python -m bench.gpu`): what decides the next speed step of training on a GPU, in one
command of about 5 minutes on one GPU, on synthetic data of the real datasets' sizes (nothing is downloaded).

M0 the machine; M1 `fit` as a trial calls it (ms/step, host syncs/step); M2 a plain eager loop; M3 with fused
Adam and the foreach mask; M4 the whole step as a CUDA graph (bit for bit against M3); M5
`torch.compile(mode="reduce-overhead")` (capped); M6 a vmap population of K trials; M7 N processes sharing the
GPU with CINIC-10-sized data each; M8 TF32, bf16, channels-last, cuDNN's autotuner on the fastest path; M9
determinism (two runs bit for bit, with and without deterministic algorithms, and the cost). Then the checks
of what only a GPU shows about the training path, and the decision (`bench.gpu_report`).

It writes docs/bench-gpu.json and the table of docs/benchmarks.md's GPU section. Without CUDA it says so in
one line and exits 0, in about a second: importing this module loads torch but not Lightning, MLflow or Ray,
which the measures that need them import when they run. `run` on the CPU (the tests) takes every path that
needs no CUDA (M4, M5, host syncs and the Ray check do).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.context import BaseContext
from pathlib import Path

import torch

from bench import gpu_report
from bench.gpu_population import population
from bench.gpu_processes import SPAWN, processes
from bench.gpu_steps import Flags, Run, Setup, batch_rows, eager, graph, synthetic
from lottery.errors import first_line
from lottery.training.device import deterministic_algorithms

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
REFUSAL = "bench-gpu measures a CUDA GPU and torch sees none here: run `make bench-gpu` on a machine with one"
M8_VARIANTS = {
    "defaults": Flags(),  # torch's: TF32 off for matrix products, on for cuDNN
    "tf32 off": Flags(tf32_cudnn=False),
    "tf32 on": Flags(tf32_matmul=True),
    "bf16 autocast": Flags(bf16=True),
    "channels_last": Flags(channels_last=True),
    "cudnn.benchmark": Flags(cudnn_benchmark=True),
}


@dataclass(frozen=True)
class Plan:
    """What is measured, and how much: the defaults take about 5 minutes on one GPU."""

    model: str = "conv2"
    batch_size: int = 60
    sizes: tuple[int, int] = (50_000, 10_000)  # CIFAR-10's train / test: M1–M5, M8, M9
    steps: int = 300
    warmup: int = 20
    population: tuple[int, ...] = (1, 4, 8, 20)
    population_steps: int = 50
    processes: tuple[int, ...] = (1, 2, 4, 8)
    process_sizes: tuple[int, int] = (90_000, 90_000)  # CINIC-10's train / test, in every process
    process_seconds: float = 10.0
    compile_cap_s: float = 90.0
    check_sizes: tuple[int, int] = (6_000, 1_000)  # the determinism check of `fit`: 100 steps, one evaluation


@dataclass(frozen=True)
class Bench:
    """A plan on a device, with trial 0's setup on data of `plan.sizes[0]` images and its batches, and the
    multiprocessing context that starts M7's processes."""

    plan: Plan
    device: torch.device
    setup: Setup
    rows: torch.Tensor
    process_context: BaseContext

    @classmethod
    def on(cls, plan: Plan, device: torch.device, process_context: BaseContext = SPAWN) -> Bench:
        rows = batch_rows(plan.sizes[0], plan.batch_size, plan.warmup + plan.steps, device, 0)
        setup = Setup.on(plan.model, *synthetic(plan.sizes[0], device))
        return cls(plan, device, setup, rows, process_context)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def eager(self, flags: Flags | None = None, fused: bool = True) -> Run:
        return eager(self.setup, self.rows, flags or Flags(), fused, self.plan.warmup)

    def graph(self, flags: Flags | None = None) -> Run:
        return graph(self.setup, self.rows, flags or Flags(), self.plan.warmup)


def m0(bench: Bench, results: dict) -> dict:
    """The device and versions (as trial runs tag them), the driver, compute mode and memory by nvidia-smi,
    whether NVIDIA's Multi-Process Service runs, and the CPU cores this process may use."""
    from lottery.tracking.provenance import environment

    tags = environment(bench.device, deterministic_algorithms(bench.device))
    info = {tag.removeprefix("lottery."): value for tag, value in tags.items()}
    if bench.cuda:
        fields = "driver_version,compute_mode,memory.total"
        query = [
            "nvidia-smi",
            f"--query-gpu={fields}",
            "--format=csv,noheader",
            f"--id={bench.device.index or 0}",
        ]
        try:
            answer = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
            info.update(zip(fields.split(","), (part.strip() for part in answer.split(",")), strict=False))
        except (OSError, subprocess.TimeoutExpired) as error:
            info["nvidia-smi"] = f"unavailable ({error})"
        daemons = [
            path for path in Path("/proc").glob("[0-9]*/comm") if _read(path).startswith("nvidia-cuda-mps")
        ]
        info["mps"] = "running" if daemons or os.environ.get("CUDA_MPS_PIPE_DIRECTORY") else "off"
    info["cpu_cores"] = f"{len(os.sched_getaffinity(0))} of {os.cpu_count()}"
    return info


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def m1(bench: Bench, results: dict) -> dict:
    from bench.gpu_fit import fit_path

    return fit_path(bench.setup, bench.plan.sizes, bench.plan.batch_size)


def m2(bench: Bench, results: dict) -> dict:
    return {"ms_per_step": bench.eager(fused=False).ms_per_step}


def m3(bench: Bench, results: dict) -> dict:
    return {"ms_per_step": bench.eager().ms_per_step}


def m4(bench: Bench, results: dict) -> dict | None:
    """The graph's speed, and its weights against M3's after the same steps, both deterministic."""
    if not bench.cuda:
        return None
    exact = Flags(deterministic=True)
    return {
        "ms_per_step": bench.graph().ms_per_step,
        "bitwise_equal_m3": bench.graph(exact).equals(bench.eager(exact)),
    }


def m5(bench: Bench, results: dict) -> dict | None:
    """In a process of its own (`bench.gpu_compile`), stopped at the cap."""
    if not bench.cuda:
        return None
    plan = bench.plan
    command = [
        "-m",
        "bench.gpu_compile",
        plan.model,
        str(plan.sizes[0]),
        str(plan.batch_size),
        str(plan.steps),
    ]
    try:
        done = subprocess.run(
            [sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=plan.compile_cap_s
        )
    except subprocess.TimeoutExpired:
        return {"compile_s": None, "note": f"not compiled within {plan.compile_cap_s:g} s"}
    if done.returncode:
        return {"compile_s": None, "note": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def m6(bench: Bench, results: dict) -> list[dict]:
    """ms per step of all K trials, and the peak memory (CUDA), for each K."""
    plan, found = bench.plan, []
    for size in plan.population:
        if bench.cuda:
            torch.cuda.reset_peak_memory_stats(bench.device)
        per_trial = [
            batch_rows(plan.sizes[0], plan.batch_size, plan.population_steps, bench.device, 0, k)
            for k in range(size)
        ]
        timing = population(bench.setup, torch.stack(per_trial, 1), warmup=plan.population_steps // 5)
        peak = torch.cuda.max_memory_allocated(bench.device) / 2**20 if bench.cuda else None
        found.append({"trials": size, "ms_per_step": timing.ms_per_step, "peak_mib": peak})
    return found


def m7(bench: Bench, results: dict) -> list[dict]:
    plan, device = bench.plan, str(bench.device)
    args = (plan.model, plan.process_sizes, plan.batch_size, plan.process_seconds, device)
    return [processes(*args, count, bench.process_context) for count in plan.processes]


def m8(bench: Bench, results: dict) -> dict:
    """Each variant on the faster of M3 (eager) and M4 (the graph)."""
    graph, eager = gpu_report.measured(results, "m4"), gpu_report.measured(results, "m3")
    graph_faster = graph is not None and (eager is None or graph["ms_per_step"] < eager["ms_per_step"])
    path = bench.graph if graph_faster else bench.eager
    return {
        "path": "graph" if graph_faster else "eager",
        **{name: path(flags).ms_per_step for name, flags in M8_VARIANTS.items()},
    }


def m9(bench: Bench, results: dict) -> dict:
    """Two M3 runs each way: bit for bit equal? and the cost of deterministic algorithms."""
    found = {}
    for mode in ("off", "on"):
        first, second = (bench.eager(Flags(deterministic=mode == "on")) for _ in range(2))
        found[mode] = {"bitwise_equal": first.equals(second), "ms_per_step": first.ms_per_step}
    return {**found, "cost": found["on"]["ms_per_step"] / found["off"]["ms_per_step"]}


def checks(bench: Bench, results: dict) -> dict:
    """What only a GPU shows about the training path: the batch order (issue 4), `fit` twice (issue 5), and
    trials on Ray (issues 1 and 2)."""
    from bench.gpu_fit import batch_order_is_the_cpus, fit_is_deterministic

    found = {
        "batch_order_is_the_cpus": batch_order_is_the_cpus(
            bench.device, bench.plan.sizes[0], bench.plan.batch_size
        ),
        "fit_twice": fit_is_deterministic(bench.setup, bench.plan.check_sizes, bench.plan.batch_size),
    }
    if bench.cuda:
        from bench.gpu_ray import ray_check

        found["ray"] = ray_check(torch.cuda.device_count())
    return found


MEASURES: dict[str, Callable[[Bench, dict], object]] = {
    "m0": m0,
    "m1": m1,
    "m2": m2,
    "m3": m3,
    "m4": m4,
    "m5": m5,
    "m6": m6,
    "m7": m7,
    "m8": m8,
    "m9": m9,
    "checks": checks,
}


def run(
    plan: Plan, device: torch.device, say: Callable[[str], None] = print, process_context: BaseContext = SPAWN
) -> dict:
    """Every measure in turn on `device` (None where it needs CUDA), each said as taken; then the decision. A
    measure that fails is recorded as its error (its traceback on stderr) and the others still run: the first
    run on a kind of GPU is the one that must not be lost. M7's processes start from `process_context`
    (fresh interpreters by default: `bench.gpu_processes` says why)."""
    bench, results = Bench.on(plan, device, process_context), {"plan": asdict(plan)}
    for key, measure in MEASURES.items():
        try:
            results[key] = measure(bench, results)
        except Exception as error:
            traceback.print_exc()
            results[key] = {"error": f"{type(error).__name__}: {first_line(error)}"}
        say(f"{gpu_report.TITLES[key]}: {gpu_report.line(key, results[key])}")
    results["decision"] = gpu_report.decide(results)
    return results


def main(argv: list[str] | None = None) -> int:
    if not torch.cuda.is_available():
        print(REFUSAL)
        return 0
    # As `fit` sets it on CUDA (deterministic cuBLAS), before any cuBLAS call of this process.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    results = run(Plan(), torch.device("cuda", torch.cuda.current_device()))
    gpu_report.write(results, DOCS / "bench-gpu.json", DOCS / "benchmarks.md")
    for line in gpu_report.summary(results["decision"]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
