"""End to end at scale: `make server` on a free port, `make train … EXECUTOR=ray` on the running Ray cluster
at RAY_ADDRESS (the session's) logging through it, then `make analyze` against the same server."""

from __future__ import annotations

import os
import subprocess

import pytest
from mlflow import MlflowClient
from tracking_server import REPO, running_server
from trial_store import artifact, trial_runs

from lottery.models.toy import Network as Toy
from lottery.tracking import contract

LAYER_NAMES = Toy.SPEC.layer_names

# The venv running the tests is installed: never reinstall it from inside a test.
MAKE = ["make", "--no-print-directory", "--old-file=.venv/.installed"]


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
    with running_server(tmp_path / "server", store=template_store) as url:
        env = dict(
            os.environ,
            MLFLOW_TRACKING_URI=url,
            LOTTERY_CACHE_DIR=str(tmp_path / "cache"),
            **ray_cluster.env(),
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

        analysis = make("analyze", env=env)
        assert "from the cache in" in analysis.stdout and f"of {url}" in analysis.stdout
        client = MlflowClient(url)
        (logged,) = client.search_runs(
            [client.get_experiment_by_name("analysis").experiment_id],
            filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
        )
        assert logged.info.status == "FINISHED"
        assert sorted(logged.data.params["source_runs"].split(",")) == sorted(r.info.run_id for r in runs)
