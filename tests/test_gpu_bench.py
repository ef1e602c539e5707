"""`make bench-gpu` (bench/gpu.py) as far as a CPU takes it: the one-line refusal without CUDA, the population
trained as one equal to its trials trained alone, the decision, the report, and a tiny plan end to end through
every path that needs no CUDA."""

from __future__ import annotations

import json
import subprocess

import preloaded
import pytest
import torch
from entry_points import REPO

from bench import gpu, gpu_report
from bench.gpu_population import population
from bench.gpu_steps import Flags, Setup, batch_rows, eager, synthetic

CPU = torch.device("cpu")
TINY = gpu.Plan(
    model="toy",
    sizes=(240, 60),
    steps=4,
    warmup=2,
    population=(1, 2),
    population_steps=5,
    processes=(2,),  # M7 side by side (N=1 takes the same path), forked from the preloaded server
    process_sizes=(240, 60),
    process_seconds=0.5,
    check_sizes=(120, 60),
)


def test_without_cuda_it_says_so_in_one_line_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    written = (gpu.DOCS / "benchmarks.md").read_text()
    assert gpu.main([]) == 0
    assert capsys.readouterr().out.splitlines() == [gpu.REFUSAL]
    assert (gpu.DOCS / "benchmarks.md").read_text() == written


def test_a_population_trains_each_trial_as_it_would_alone():
    setup = Setup.on("toy", *synthetic(100, CPU))
    rows = [batch_rows(100, 10, 3, CPU, 0, trial) for trial in range(2)]
    together = population(setup, torch.stack(rows, 1), warmup=1)
    alone = [
        eager(Setup.on("toy", setup.images, setup.labels, trial), rows[trial], Flags(), True, 1)
        for trial in range(2)
    ]
    assert eager(setup, rows[0], Flags(), fused=False, warmup=1).equals(alone[0])  # M2 = M3 on the CPU
    flat = [weight for run in alone for weight in run.weights]
    assert len(flat) == len(together.weights)
    for own, shared in zip(flat, together.weights, strict=True):
        torch.testing.assert_close(shared, own, rtol=0, atol=1e-6)  # grouped kernels add in another order


def results(m4_ms: float | None, population_ms: dict[int, float], processes: dict[int, float]) -> dict:
    return {
        "m3": {"ms_per_step": 2.0},
        "m4": None if m4_ms is None else {"ms_per_step": m4_ms, "bitwise_equal_m3": True},
        "m6": [{"trials": k, "ms_per_step": ms, "peak_mib": None} for k, ms in population_ms.items()],
        "m7": [
            {"processes": n, "trial_steps_per_s": rate, "device_in_use_mib": None}
            for n, rate in processes.items()
        ],
        "m9": {
            "on": {"bitwise_equal": True, "ms_per_step": 2.1},
            "off": {"bitwise_equal": False, "ms_per_step": 2.0},
            "cost": 1.05,
        },
    }


def test_the_decision_names_the_lever_with_the_most_trials_per_gpu_second():
    decision = gpu_report.decide(results(1.0, {1: 2.0, 4: 4.0, 8: 10.0}, {1: 500, 2: 900, 4: 1500, 8: 1540}))
    # graph 1000/s, population of 4: 1000/s ... of 8: 800/s; 4 processes reach 97 % of 8's 1540/s
    assert decision["winner"] == "4 processes per GPU" and decision["gpus_per_trial"] == 0.25
    assert decision["over_m3"] == pytest.approx(1500 / 500) and decision["over_runner_up"] == pytest.approx(
        1.5
    )
    assert decision["keep_deterministic"]
    decision = gpu_report.decide(results(None, {1: 2.0, 20: 8.0}, {1: 500}))
    assert decision["winner"] == "population of 20" and decision["over_m3"] == pytest.approx(5.0)
    assert "GPUS_PER_TRIAL=1 " in " ".join(gpu_report.summary(decision))


def test_a_measure_that_failed_is_reported_and_left_out_of_the_decision():
    found = {**results(1.0, {1: 2.0}, {1: 600}), "m4": {"error": "RuntimeError: capture failed"}}
    assert gpu_report.line("m4", found["m4"]) == "failed: RuntimeError: capture failed"
    assert gpu_report.decide(found)["winner"] == "1 process per GPU"


def test_the_report_replaces_only_its_own_section(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nbefore\n{gpu_report.START}\nold table\n{gpu_report.END}\nafter\n")
    found = {key: None for key in gpu_report.TITLES}
    found.update(
        m0={"device": "cuda:0"}, m3={"ms_per_step": 2.0}, checks={"fit_twice": {"weights_equal": True}}
    )
    found.update(results(1.0, {1: 2.0}, {1: 500, 2: 1200}), decision=None)
    found["decision"] = gpu_report.decide(found)
    gpu_report.write(found, tmp_path / "bench-gpu.json", page)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n") and text.endswith(f"{gpu_report.END}\nafter\n")
    assert "old table" not in text and "| M4 the step as a CUDA graph | 1.000 ms/step" in text
    assert (
        json.loads((tmp_path / "bench-gpu.json").read_text())["decision"]["winner"] == "2 processes per GPU"
    )


@pytest.mark.drivers  # M7 starts processes
def test_a_tiny_plan_runs_end_to_end_on_the_cpu():
    said = []
    found = gpu.run(TINY, CPU, say=said.append, process_context=preloaded.context())  # imports paid once
    assert [line.split(":")[0] for line in said] == list(gpu_report.TITLES.values())
    assert found["m4"] is found["m5"] is None and found["m1"]["host_syncs_per_step"] is None
    assert [row["trials"] for row in found["m6"]] == [1, 2]
    assert [row["processes"] for row in found["m7"]] == [2]
    assert set(found["m8"]) == {"path", *gpu.M8_VARIANTS} and found["m8"]["path"] == "eager"
    assert found["m9"]["on"]["bitwise_equal"] and found["m9"]["off"]["bitwise_equal"]
    assert all(gpu_report.passed(check) for check in found["checks"].values())
    assert found["decision"]["winner"] is not None
    assert "| decision |" in gpu_report.table(found)


@pytest.mark.drivers
def test_make_bench_gpu_refuses_in_one_line_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: make bench-gpu would measure it")
    done = subprocess.run(
        ["make", "--no-print-directory", "--old-file=.venv/.installed", "bench-gpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == gpu.REFUSAL and done.stderr == ""
