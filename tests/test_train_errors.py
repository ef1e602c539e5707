"""Every bad input ends in one clear line, a non-zero exit, no traceback, and no finished trial."""

import socket
import time
from functools import partial

import pytest
from entry_points import refused
from trial_store import trial_runs

from experiments.train import main
from lottery.execution.trial_hooks import TrialHook

TINY = ["--trials", "1", "--rounds", "1", "--epochs", "1"]
RAY = [*TINY, "--executor", "ray"]


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "imagenet", *TINY], "unknown dataset 'imagenet'"),
        (["--dataset", "digits", *TINY, "--trials", "0"], "TRIALS must lie in 1..1000"),
        (["--dataset", "digits", *TINY, "--trials", "1000000000"], "TRIALS must lie in 1..1000, got 10000"),
        (["--dataset", "digits", *TINY, "--rounds", "-1"], "ROUNDS must lie in 0..100"),
        (["--dataset", "digits", *TINY, "--rounds", "500"], "ROUNDS must lie in 0..100"),
        (["--dataset", "digits", *TINY, "--epochs", "0"], "EPOCHS must lie in 1..1000"),
        (["--dataset", "digits", *TINY, "--lr", "inf"], "LR must be a finite number > 0, got inf"),
        (["--dataset", "digits", *TINY, "--lr", "nan"], "LR must be a finite number > 0, got nan"),
        (["--dataset", "digits", *TINY, "--dense-rate", "1.0"], "dense pruning rate must lie in (0, 1)"),
        (["--dataset", "digits", *TINY, "--conv-rate", "0"], "conv pruning rate must lie in (0, 1)"),
        (["--dataset", "digits", *TINY, "--epochs", "ten"], "invalid int value: 'ten'"),
        (["--dataset", "digits", *TINY, "--executor", "dask"], "invalid choice: 'dask'"),
        (["--dataset", "digits", *RAY, "--cpus-per-trial", "0"], "CPUS_PER_TRIAL must be > 0"),
        (["--dataset", "digits", *RAY, "--gpus-per-trial", "1.5"], "GPUS_PER_TRIAL must be a fraction in"),
        (["--dataset", "digits", *RAY, "--gpus-per-trial", "-1"], "GPUS_PER_TRIAL must be a fraction in"),
        (["--dataset", "digits", *RAY, "--max-retries", "-1"], "retries must be >= 0"),
        (["--dataset", "digits", *RAY, "--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster at"),
    ],
)
def test_bad_arguments(capsys, store_uri, args, expected):
    assert expected in run_cli(capsys, *args)


def test_unreachable_tracking_server_fails_fast(capsys, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    err = run_cli(capsys, "--dataset", "digits", *TINY)
    assert time.monotonic() - started < 30
    assert f"cannot reach the MLflow tracking store http://127.0.0.1:{port}" in err


def test_file_store_is_refused(capsys, tmp_path):
    err = run_cli(capsys, "--dataset", "digits", *TINY, "--tracking-uri", str(tmp_path / "mlruns"))
    assert "file store" in err


def test_command_line_error_has_no_traceback(tmp_path):
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "PATH": "",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = refused("experiments.train", "--dataset", "digits", *TINY[:4], "--epochs", "0", env=env)
    assert result.stderr.strip() == "error: EPOCHS must lie in 1..1000, got 0"


class CrashInTrial1(TrialHook):
    """A bug in trial 1/2, once its rounds are done."""

    def control_start(self, trial, control):
        if trial == 0:
            raise RuntimeError("boom")


def test_a_crashed_trial_fails_is_reported_and_the_next_one_runs(capsys, store_uri, tiny_data, monkeypatch):
    from lottery.execution import experiment

    monkeypatch.setattr(
        experiment, "run_experiment", partial(experiment.run_experiment, hooks=[CrashInTrial1()])
    )
    # the toy network learns little in one epoch: no warning that it stayed at chance, only the failure line
    monkeypatch.setattr("lottery.training.verdict.chance_threshold", lambda labels: (0.0, 0.0))
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "digits", "--trials", "2", "--rounds", "0", "--epochs", "1", "--model", "toy"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1  # a crash, not the user's doing
    assert "Traceback" in captured.out and 'raise RuntimeError("boom")' in captured.out  # visible
    (err,) = captured.err.strip().splitlines()
    assert err.startswith("error: 1 of 2 trials failed (digits trial 1/2: RuntimeError: boom); fix the cause")
    assert [run.info.status for run in trial_runs(store_uri)] == ["FAILED", "FINISHED"]


def test_an_executor_that_fails_leaves_no_run_scheduled(store_uri, tiny_data, monkeypatch):
    def broken(self, tasks, done):
        list(tasks)  # every trial claimed and SCHEDULED, then the executor fails
        raise OSError("the executor could not start")

    monkeypatch.setattr("lottery.execution.local.LocalExecutor.run", broken)
    with pytest.raises(OSError):
        main(["--dataset", "digits", "--trials", "2", "--rounds", "0", "--epochs", "1", "--no-progress-bar"])
    assert [run.info.status for run in trial_runs(store_uri)] == ["FAILED", "FAILED"]


def test_a_training_split_the_dataset_lacks(capsys, store_uri):
    err = run_cli(capsys, "--dataset", "digits", *TINY, "--train-splits", "train+valid")
    assert err == "error: digits has no training split 'train+valid'; choose train"
