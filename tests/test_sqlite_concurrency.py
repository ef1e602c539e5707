"""Several local workers writing to one SQLite store at once lose and duplicate nothing."""

from __future__ import annotations

from pathlib import Path

import preloaded
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from lottery.tracking import store

WORKERS, RUNS, STEPS = 4, 3, 10


def worker(uri: str, index: int, start) -> None:
    """What a trial worker does to the store, RUNS times: a run, a metric batch per round, an artifact."""
    client = store.connect(uri)
    experiment_id = store.experiment_id(client, "digits")
    start.wait()
    for run_index in range(RUNS):
        run = client.create_run(experiment_id, tags={"worker": str(index), "run": str(run_index)})
        for step in range(STEPS):
            client.log_batch(run.info.run_id, metrics=[Metric("test_acc", step / STEPS, 0, step)])
        client.log_text(run.info.run_id, f"{index}/{run_index}", "ticket/who.txt")
        client.set_terminated(run.info.run_id)


@pytest.mark.drivers
def test_concurrent_workers_on_a_fresh_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    context = preloaded.context()  # MLflow imported once, not in each worker
    start = context.Barrier(WORKERS)
    # Every worker meets a store that does not exist yet: creating its tables races too.
    workers = [context.Process(target=worker, args=(uri, index, start)) for index in range(WORKERS)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [process.exitcode for process in workers] == [0] * WORKERS

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    keys = sorted((int(r.data.tags["worker"]), int(r.data.tags["run"])) for r in runs)
    assert keys == [(w, r) for w in range(WORKERS) for r in range(RUNS)]
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "test_acc"))
        assert steps == list(range(STEPS))
        local = client.download_artifacts(run.info.run_id, "ticket/who.txt", str(tmp_path))
        assert Path(local).read_text() == f"{run.data.tags['worker']}/{run.data.tags['run']}"
