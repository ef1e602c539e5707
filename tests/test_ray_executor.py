"""EXECUTOR=ray end to end on a local Ray cluster over a SQLite store: a worker killed mid-trial, Ctrl-C on
the driver, a trial that fails for good while the others finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from entry_points import REPO, refused
from mlflow import MlflowClient
from trial_store import trial_runs

from lottery.execution.experiment import Scheduler
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import store
from lottery.tracking.lease import Leases
from lottery.tracking.trial_record import TrialRecord

TIMEOUT = 300


def start_training(uri: str, log: Path, *args: str) -> subprocess.Popen:
    """`python -m experiments.train --executor ray` in its own process group (as a terminal runs it)."""
    command = [sys.executable, "-m", "experiments.train", "--dataset", "digits", "--executor", "ray"]
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    env.pop("RAY_ADDRESS", None)
    with open(log, "w") as out:
        return subprocess.Popen(
            [*command, "--no-progress-bar", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def wait_for(log: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while text not in log.read_text():
        assert process.poll() is None, f"training ended before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} after {TIMEOUT} s:\n{log.read_text()}"
        time.sleep(0.2)


def parent(pid: int) -> int:
    # /proc/<pid>/stat: "pid (name) state ppid …"; the name may hold spaces, so split after its ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = parent(pid)
    return False


def trial_workers(driver: int) -> list[int]:
    """The pids of the Ray workers of `driver`'s local cluster running a trial (titled after the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            if title.startswith(b"ray::train_trial") and descends_from(int(entry.name), driver):
                pids.append(int(entry.name))
        except OSError:  # the process ended while we looked
            continue
    return pids


def finish(process: subprocess.Popen) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stderr


def steps(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, key))


@pytest.mark.ray
def test_a_killed_worker_is_retried_and_resumes_the_same_run(tmp_path):
    uri, log = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "train.log"
    process = start_training(uri, log, "--trials", "1", "--rounds", "1", "--epochs", "2")
    wait_for(log, "round 0/1", process)  # round 1 and the random ticket are left: 4 epochs
    (worker,) = trial_workers(process.pid)
    os.kill(worker, signal.SIGKILL)
    code, stderr = finish(process)
    assert code == 0, stderr
    output = log.read_text()
    assert "digits trial 1/1: resuming in digits/trial-00" in output, output
    (run,) = trial_runs(uri)
    assert run.info.status == "FINISHED"
    assert steps(uri, run.info.run_id, "test_acc") == [0, 1]
    assert steps(uri, run.info.run_id, "sparsity") == [0, 1]
    assert steps(uri, run.info.run_id, "random_test_acc") == [1]


@pytest.mark.ray
def test_ctrl_c_cancels_every_trial_and_finishes_none(tmp_path):
    uri, log = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "train.log"
    process = start_training(uri, log, "--trials", "3", "--rounds", "3", "--epochs", "2")
    wait_for(log, "round 0/3", process)
    workers = trial_workers(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    code, stderr = finish(process)
    assert code == 130
    assert stderr.strip().splitlines() == ["interrupted: re-run the same command to resume"]
    runs = trial_runs(uri)
    assert len(runs) == 3 and {run.info.status for run in runs} == {"KILLED"}
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.ray
def test_a_trial_that_fails_is_reported_and_the_others_finish(tmp_path, tiny_digits):
    uri, log = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "train.log"
    config = ExperimentConfig(
        dataset="digits", trials=3, training=TrainingHparams(epochs=1), pruning=PruningHparams(rounds=1)
    )
    # Trial 2's run exists already, with a corrupt θ0: resuming it fails for good, whoever retries.
    client = store.connect(uri)
    leases = Leases(client)
    task = Scheduler(client, config, tiny_digits, leases, say=lambda line: None).take(1)
    leases.release(task.run_id)
    corrupt = tmp_path / "init.npz"
    corrupt.write_bytes(b"not an npz")
    client.log_artifact(task.run_id, str(corrupt), artifact_path="ticket")
    process = start_training(uri, log, "--trials", "3", "--rounds", "1", "--epochs", "1")
    code, stderr = finish(process)
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: 1 of 3 trials failed (digits trial 2/3: ") and "init.npz" in line, line
    runs = trial_runs(uri)
    assert [run.info.status for run in runs] == ["FINISHED", "FAILED", "FINISHED"]
    for run in (runs[0], runs[2]):  # two workers logged at once into one SQLite file: nothing lost or doubled
        assert steps(uri, run.info.run_id, "test_acc") == [0, 1]
    assert TrialRecord.open(client, runs[1].info.run_id).completed_rounds() == 0


@pytest.mark.parametrize("address", ["10.1.2.3:6379", "ray://head.cluster.example:10001"])
def test_a_remote_cluster_with_a_local_store_is_refused(tmp_path, address):
    env = dict(os.environ, RAY_ADDRESS=address, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    line = refused("experiments.train", "--dataset", "digits", "--executor", "ray", env=env).stderr.strip()
    assert line.startswith(f"error: EXECUTOR=ray on the Ray cluster at {address} cannot use the tracking")
    assert not (tmp_path / "mlflow.db").exists()
