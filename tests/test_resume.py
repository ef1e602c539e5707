"""An interrupted trial resumes in its own run from its last completed round, ending where an
uninterrupted trial ends; its `training_seconds` continue the interrupted session's and leave the gap out."""

import time

import numpy as np
import pytest
from mlflow import MlflowClient
from round_hooks import AfterRound, Watch, interrupt
from trial_store import artifact, empty_store, trial_runs

from lottery.execution.experiment import run_experiment
from lottery.execution.scheduler import Scheduler
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import store
from lottery.tracking.lease import Leases

CONFIG = ExperimentConfig(
    dataset="digits",
    trials=1,
    seed=1,
    training=TrainingHparams(epochs=1),
    pruning=PruningHparams(rounds=2),
    model="toy",  # resuming is the subject, not the network
)


def quiet(uri, hooks=()):
    return run_experiment(CONFIG, "unused", uri, say=lambda line: None, show_progress=False, hooks=hooks)


def test_interrupted_trial_resumes_in_the_same_run(tmp_path, tiny_data, store_uri, template_store):
    uri = store_uri
    with pytest.raises(KeyboardInterrupt):
        quiet(uri, hooks=[AfterRound(1, interrupt)])
    interrupted_at = time.time()
    (run,) = trial_runs(uri)
    assert run.info.status == "KILLED"
    client = MlflowClient(uri)
    driver = store.connect(uri)
    task = Scheduler(driver, CONFIG, tiny_data, Leases(driver), say=lambda line: None).take(0)
    assert task.run_id == run.info.run_id and client.get_run(run.info.run_id).info.status == "SCHEDULED"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "test_acc")) == [0, 1]

    # The gap between the interruption and the re-run: an uninterrupted twin trains meanwhile.
    uninterrupted = empty_store(template_store, tmp_path / "uninterrupted")
    quiet(uninterrupted)
    rerun_at = time.time()
    watch = Watch()
    quiet(uri, hooks=[watch])
    rerun_seconds, gap = time.time() - rerun_at, rerun_at - interrupted_at
    assert watch.rounds == [2]
    (after,) = trial_runs(uri)
    assert after.info.run_id == run.info.run_id and after.info.status == "FINISHED"
    for key in ("test_acc", "sparsity", "random_test_acc", "training_seconds"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} logged twice for a round"
    seconds = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "training_seconds")}
    assert 0 < seconds[0] < seconds[1] < seconds[2]  # round 2's session goes on from round 1's total
    assert seconds[2] - seconds[1] < rerun_seconds  # and counts its own time, not the gap before it
    duration = (after.info.end_time - after.info.start_time) / 1000
    assert duration - seconds[2] > gap  # MLflow's Duration counts the gap, training_seconds does not

    for path in ("ticket/winning_mask.npz", "ticket/random_mask.npz"):
        a = artifact(uri, run.info.run_id, path, tmp_path / "a")
        b = artifact(uninterrupted, trial_runs(uninterrupted)[0].info.run_id, path, tmp_path / "b")
        assert all(np.array_equal(a[n], b[n]) for n in a)
