"""What stops a driver — a tracking server gone mid-run, SIGTERM — ends in one line, with nothing left
RUNNING that the driver could still mark and everything resumable; and make passes any value safely."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import preloaded
import pytest
from entry_points import REPO
from mlflow import MlflowClient
from round_hooks import AfterRound
from tracking_server import app_server, stop
from trial_store import trial_runs

from lottery.errors import UserError
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import contract

TIMEOUT = 300
CONFIG = ExperimentConfig(
    dataset="digits",
    trials=2,
    training=TrainingHparams(epochs=1),
    pruning=PruningHparams(rounds=1),
    model="toy",  # the driver's faults are the subject, not the network
)


@pytest.mark.drivers
def test_a_server_lost_mid_run_stops_the_driver_in_one_line_and_the_rerun_resumes(
    tmp_path, tiny_data, backend_store_uri
):
    servers = []
    stop_the_server = AfterRound(0, lambda: stop(servers[0]))
    lines = []
    root = tmp_path / "server"
    with app_server(root, backend_store_uri, started=servers) as url, pytest.raises(UserError) as error:
        run_experiment(CONFIG, "unused", url, say=lines.append, show_progress=False, hooks=[stop_the_server])
    message = str(error.value)
    assert (
        message.startswith(f"lost the MLflow tracking store {url} (") and "re-run the same command" in message
    )
    assert not any("Traceback" in line or "trial 2/2" in line for line in lines)  # nothing more was tried

    port = int(url.rsplit(":", 1)[1])
    with app_server(root, backend_store_uri, port=port) as again:  # the same server, restarted
        (run,) = trial_runs(again)
        assert run.info.status == "RUNNING"  # the driver could not mark it: the re-run resumes it
        lines = []
        run_experiment(CONFIG, "unused", again, say=lines.append, show_progress=False)
        assert any(
            "resuming in digits/trial-00" in line and "after 1 completed rounds" in line for line in lines
        ), lines
        runs = trial_runs(again)
        assert [r.info.status for r in runs] == ["FINISHED"] * 2 and runs[0].info.run_id == run.info.run_id, (
            lines
        )


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "experiments.train", "--dataset", "digits", "--model", "toy", *args]


@pytest.mark.drivers
def test_a_driver_killed_mid_trial_leaves_its_run_to_the_rerun_which_resumes_it(
    tmp_path, tiny_data, backend_store_uri
):
    """SIGKILL (the OOM killer, a machine lost) marks nothing: the re-run takes the dead driver's lease
    over at once and resumes the run from its last completed round. The re-run is run_experiment in this
    process, which takes the lease over like any other driver."""
    # Round 1 of the toy model takes a second or more at 5 epochs: under way when the driver is killed.
    command = train_command("--trials", "1", "--rounds", "1", "--epochs", "5", "--no-progress-bar")
    log = tmp_path / "train.log"
    with app_server(tmp_path / "server", backend_store_uri) as url:
        env = dict(os.environ, MLFLOW_TRACKING_URI=url)
        with open(log, "w") as out:
            driver = preloaded.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while "round 0/1 · sparsity" not in log.read_text():
            assert driver.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        driver.kill()
        driver.wait()
        (run,) = trial_runs(url)
        assert run.info.status == "RUNNING"
        lines = []
        config = replace(CONFIG, trials=1, training=TrainingHparams(epochs=5))  # the command's
        run_experiment(config, "unused", url, say=lines.append, show_progress=False)
        assert not any("being trained by" in line for line in lines), lines  # not after the lease expired
        assert any(
            re.search(r"resuming in digits/trial-00 .* after 1 completed rounds", line) for line in lines
        ), lines
        (after,) = trial_runs(url)
        assert after.info.run_id == run.info.run_id and after.info.status == "FINISHED"
        client = MlflowClient(url)
        for key in ("test_acc", "sparsity", "random_test_acc"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert len(steps) == len(set(steps)), f"{key} logged twice for a round"


@pytest.mark.drivers
def test_sigterm_ends_the_driver_in_one_line_and_its_run_killed(tmp_path, store_uri):
    log = tmp_path / "train.log"
    # Round 0 of the toy model takes seconds (100 epochs): long enough to be under way when SIGTERM comes.
    args = ["--dataset", "digits", "--model", "toy", "--trials", "2", "--rounds", "1", "--epochs", "100"]
    with open(log, "w") as out:
        driver = preloaded.Popen(
            [sys.executable, "-m", "experiments.train", *args, "--no-progress-bar"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    deadline = time.monotonic() + TIMEOUT
    while "training in" not in log.read_text():  # its run is RUNNING, round 0 under way
        assert driver.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=TIMEOUT)
    assert driver.returncode == 143
    assert stderr.strip().splitlines() == ["terminated (SIGTERM): re-run the same command to resume"]
    (run,) = trial_runs(store_uri)
    assert run.info.status == "KILLED" and contract.TAG_WINNING not in run.data.tags


def make_train(tmp_path, *variables: str) -> subprocess.CompletedProcess:
    """`make train VARIABLES…` over a store in `tmp_path` (the installed venv is never reinstalled)."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")  # a refusal creates none
    command = ["make", "--no-print-directory", "--old-file=.venv/.installed", "train", *variables]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "dataset",
    ["nope' ; touch {marker} ; echo '", "digits' ; touch {marker} ; echo '", "it's", 'a"b`touch {marker}`'],
)
def test_make_passes_any_value_without_the_shell_interpreting_it(tmp_path, dataset):
    marker = tmp_path / "touched"
    value = dataset.format(marker=marker)
    result = make_train(tmp_path, f"DATASET={value}", "TRIALS=1")
    assert result.returncode != 0 and not marker.exists()
    assert f"error: unknown dataset {value!r}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_make_splits_extra_arguments_like_a_shell_without_evaluating_them(tmp_path):
    marker = tmp_path / "touched"
    result = make_train(tmp_path, f"TRAIN_ARGS=--bogus 'a b' `touch {marker}`")
    assert result.returncode != 0 and not marker.exists()
    assert f"unrecognized arguments: --bogus a b `touch {marker}`" in result.stderr
