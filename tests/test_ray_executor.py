"""EXECUTOR=ray end to end, training the toy model. Over a SQLite store: a worker killed mid-trial on the
local cluster the driver starts (by a trial hook, which travels to the worker: `hooked_train`); Ctrl-C on
the driver, and a trial that fails for good while the others
finish, on the module's cluster (RAY_ADDRESS). At scale: `make server` on a free port, `make train …
EXECUTOR=ray` on the module's cluster logging through it, then `make analyze` against the same server.

Every test of that cluster lives here: `make test` hands a module's tests to one worker
(`--dist loadfile`), so the cluster starts once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import preloaded
import pytest
from entry_points import ONE_THREAD, REPO
from hooked_train import held
from mlflow import MlflowClient
from ray_cluster import RayCluster, task_workers
from tracking_server import running_server
from trial_store import artifact, empty_store, trial_runs

from experiments import train
from lottery.execution.scheduler import Scheduler
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models.toy import Network as Toy
from lottery.tracking import contract, store
from lottery.tracking.lease import Leases
from lottery.tracking.trial_record import TrialRecord

TIMEOUT = 300
LAYER_NAMES = Toy.SPEC.layer_names
# The venv running the tests is installed: never reinstall it from inside a test.
MAKE = ["make", "--no-print-directory", "--old-file=.venv/.installed"]


def start_training(
    uri: str, log: Path, cluster: RayCluster | None, *args: str, hook: tuple[str, Path] | None = None
) -> preloaded.Popen:
    """`python -m experiments.train --executor ray` of the toy model in its own session (as a terminal runs
    it), on `cluster` or, if None, on a local cluster it starts; with `hook` (name, folder), through
    `hooked_train`, whose hook acts in the trials' workers."""
    command = [sys.executable, "-m", "experiments.train"]
    if hook is not None:
        command = [sys.executable, str(REPO / "tests" / "hooked_train.py"), hook[0], str(hook[1])]
    command += ["--dataset", "digits", "--model", "toy", "--executor", "ray", "--no-progress-bar"]
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, **ONE_THREAD)
    env.pop("RAY_ADDRESS", None)
    if cluster is not None:
        env.update(cluster.env())
    with open(log, "w") as out:
        return preloaded.Popen(
            [*command, *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def finish(process: preloaded.Popen) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stderr


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, which only waits for its parent to reap it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(condition, timeout: float = 30.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def steps(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, key))


@pytest.mark.ray
def test_a_killed_worker_is_retried_and_resumes_the_same_run(tmp_path, store_uri):
    # The local cluster the driver starts itself (no RAY_ADDRESS), as `make train EXECUTOR=ray` does. A trial
    # takes both of its CPUs: one trial at a time, the second claimed (its run created) once the first ended.
    # Trial 1's worker is killed as soon as its round 0 is recorded: round 1 and the controls are left.
    log = tmp_path / "train.log"
    options = ("--trials", "2", "--rounds", "1", "--epochs", "1", "--cpus-per-trial", "2")
    process = start_training(store_uri, log, None, *options, hook=("kill", tmp_path))
    code, stderr = finish(process)
    assert code == 0, stderr
    assert (tmp_path / "killed").exists()
    output = log.read_text()
    assert "digits trial 1/2: resuming in digits/trial-00" in output, output
    first, second = trial_runs(store_uri)
    for run in (first, second):
        assert run.info.status == "FINISHED"
        assert steps(store_uri, run.info.run_id, "test_acc") == [0, 1]
        assert steps(store_uri, run.info.run_id, "sparsity") == [0, 1]
        assert steps(store_uri, run.info.run_id, "random_test_acc") == [1]
    # each run's Duration is its own training, not its wait in a queue
    assert second.info.start_time >= first.info.end_time
    assert eventually(lambda: not task_workers(process.pid))  # the local cluster ended with the driver


@pytest.mark.ray
def test_ctrl_c_cancels_every_trial_and_finishes_none(tmp_path, store_uri, ray_cluster):
    log = tmp_path / "train.log"
    args = ["--trials", "3", "--rounds", "1", "--epochs", "1"]
    process = start_training(store_uri, log, ray_cluster, *args, hook=("hold", tmp_path))
    # 2 CPUs, a trial each: both hold once their round 0 is recorded, the third waits.
    assert eventually(lambda: held(tmp_path) == 2 or process.poll() is not None, TIMEOUT)
    assert process.poll() is None, log.read_text()
    workers = ray_cluster.workers()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    code, stderr = finish(process)
    assert code == 130, log.read_text()
    assert stderr.strip().splitlines() == ["interrupted: re-run the same command to resume"]
    runs = trial_runs(store_uri)
    assert len(runs) == 3 and {run.info.status for run in runs} == {"KILLED"}
    assert len(workers) == 2 and held(tmp_path) == 2  # the third was waiting
    # The cluster outlives the driver: the workers of its trials end, cancelled.
    assert eventually(lambda: not any(map(alive, workers)) and not ray_cluster.workers())


@pytest.mark.ray
def test_a_trial_that_fails_is_reported_and_the_others_finish(tmp_path, store_uri, tiny_digits, ray_cluster):
    log = tmp_path / "train.log"
    config = ExperimentConfig(
        dataset="digits",
        trials=3,
        training=TrainingHparams(epochs=1),
        pruning=PruningHparams(rounds=1),
        model="toy",
    )
    # Trial 2's run exists already, with a corrupt θ0: resuming it fails for good, whoever retries.
    client = store.connect(store_uri)
    leases = Leases(client)
    task = Scheduler(client, config, tiny_digits, leases, say=lambda line: None).take(1)
    leases.release(task.run_id)
    corrupt = tmp_path / "init.npz"
    corrupt.write_bytes(b"not an npz")
    client.log_artifact(task.run_id, str(corrupt), artifact_path="ticket")
    process = start_training(store_uri, log, ray_cluster, "--trials", "3", "--rounds", "1", "--epochs", "1")
    code, stderr = finish(process)
    assert code == 2, log.read_text()
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: 1 of 3 trials failed (digits trial 2/3: ") and "init.npz" in line, line
    runs = trial_runs(store_uri)
    assert [run.info.status for run in runs] == ["FINISHED", "FAILED", "FINISHED"]
    for run in (runs[0], runs[2]):  # two workers logged at once into one SQLite file: nothing lost or doubled
        assert steps(store_uri, run.info.run_id, "test_acc") == [0, 1]
    assert TrialRecord.open(client, runs[1].info.run_id).completed_rounds() == 0


@pytest.mark.parametrize("address", ["10.1.2.3:6379", "ray://head.cluster.example:10001"])
def test_a_remote_cluster_with_a_local_store_is_refused(tmp_path, address, monkeypatch, capsys):
    monkeypatch.setenv("RAY_ADDRESS", address)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--dataset", "digits", "--executor", "ray"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: EXECUTOR=ray on the Ray cluster at {address} cannot use the tracking")
    assert not (tmp_path / "mlflow.db").exists()


def make(target: str, *variables: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*MAKE, target, *variables], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.ray
def test_ray_trials_log_through_a_tracking_server_and_are_analysed_there(
    tmp_path, template_store, ray_cluster
):
    with running_server(tmp_path / "server", backend=empty_store(template_store, tmp_path / "store")) as url:
        env = dict(
            os.environ,
            MLFLOW_TRACKING_URI=url,
            LOTTERY_CACHE_DIR=str(tmp_path / "cache"),
            **ray_cluster.env(),
            **ONE_THREAD,
        )
        variables = ["DATASET=digits", "TRIALS=3", "ROUNDS=1", "EPOCHS=1", "EXECUTOR=ray"]
        jobs = ray_cluster.jobs()
        make("train", *variables, "TRAIN_ARGS=--no-progress-bar --model toy", env=env)
        assert len(ray_cluster.jobs() - jobs) == 1  # the driver ran its trials on the cluster at RAY_ADDRESS

        runs = trial_runs(url)
        assert [run.info.status for run in runs] == ["FINISHED"] * 3
        for run in runs:
            assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
            mask = artifact(url, run.info.run_id, contract.WINNING_MASK_ARTIFACT, tmp_path / run.info.run_id)
            assert set(mask) == set(LAYER_NAMES)
        stored = sorted(path.parent.parent.parent.name for path in (tmp_path / "server").rglob("init.npz"))
        assert stored == sorted(run.info.run_id for run in runs)  # in the server's artifacts destination

        analysis = make("analyze", "ANALYZE_ARGS=--pairs 4 -K 3 --tie-draws 3", env=env)  # the fewest draws
        assert "from the cache in" in analysis.stdout and f"of {url}" in analysis.stdout
        client = MlflowClient(url)
        (logged,) = client.search_runs(
            [client.get_experiment_by_name("analysis").experiment_id],
            filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
        )
        assert logged.info.status == "FINISHED"
        assert sorted(logged.data.params["source_runs"].split(",")) == sorted(r.info.run_id for r in runs)
