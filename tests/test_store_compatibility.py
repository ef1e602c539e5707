"""Stores written before a change of the tracking code analyse and resume unchanged.

The stores are built by `legacy_store` with raw MLflow calls, laid out exactly as the code of commit 94a7db9
writes them; the entry points run as a user runs them, each in a process of its own (forked from the tests'
preloaded interpreter, on one thread: `preloaded`). Nothing here imports `lottery` or `analysis`, so the test
holds whatever their modules become.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import preloaded
import pytest
from entry_points import ONE_THREAD, REPO
from legacy_store import (
    ANALYSED,
    ANALYSED_DIGEST,
    INIT_ARTIFACT,
    LAYERS,
    RANDOM_MASK_ARTIFACT,
    RESUMED,
    RESUMED_DIGEST,
    WINNING_MASK_ARTIFACT,
    config_digest,
    finished_trials,
    init_digest,
    interrupted_trial,
    round_mask_artifact,
)
from mlflow.entities import ViewType


def entry_point(uri: str, module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, **ONE_THREAD)
    result = preloaded.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{module} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def load(client, run_id: str, artifact: str, directory) -> dict[str, np.ndarray]:
    local = client.download_artifacts(run_id, artifact, dst_path=str(directory))
    with np.load(local, allow_pickle=False) as archive:
        assert list(archive.files) == list(LAYERS), f"{artifact}: {archive.files}"
        return {name: archive[name] for name in archive.files}


def snapshot(client, run_id: str) -> tuple:
    """What a reader must leave alone: status, tags, params and every metric's history."""
    run = client.get_run(run_id)
    history = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }
    return run.info.status, dict(run.data.tags), dict(run.data.params), history


def test_config_digests_are_pinned():
    assert config_digest(ANALYSED) == ANALYSED_DIGEST
    assert config_digest(RESUMED) == RESUMED_DIGEST


@pytest.mark.drivers
def test_a_legacy_store_analyses_unchanged(tmp_path):
    store, trials = finished_trials(tmp_path / "store", ANALYSED)
    client, ids = store.client, [t.run_id for t in trials]
    before = {run_id: snapshot(client, run_id) for run_id in ids}

    entry_point(store.uri, "analysis", "--pairs", "3", "--ties", "first")

    assert {run_id: snapshot(client, run_id) for run_id in ids} == before
    experiment = client.get_experiment_by_name("analysis")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`lottery.role` = 'analysis'")
    assert parent.info.status == "FINISHED"
    assert sorted(parent.data.params["source_runs"].split(",")) == sorted(ids)
    assert parent.data.params["config.digits"] == ANALYSED_DIGEST
    children = client.search_runs(
        [experiment.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' and tags.`lottery.role` = 'condition'",
    )
    by_category = {run.data.tags["lottery.category"]: run for run in children}
    assert sorted(by_category) == ["WTs", "mixed", "random"] and len(children) == 3
    for category, run in by_category.items():
        assert run.info.status == "FINISHED", category
        assert run.data.metrics["pairs.used"] == 3, category
        assert "nnstd.mean" in run.data.metrics, category


@pytest.mark.drivers
def test_a_legacy_interrupted_trial_resumes_in_its_run(tmp_path):
    store, legacy = interrupted_trial(tmp_path / "store", RESUMED, completed=2, status="KILLED")
    client, run_id = store.client, legacy.run_id
    assert client.get_run(run_id).data.tags["lottery.config"] == RESUMED_DIGEST

    result = entry_point(
        store.uri,
        "experiments.train",
        *("--dataset", "digits", "--trials", "1", "--rounds", "2", "--epochs", "1", "--no-progress-bar"),
    )

    assert re.search(r"resuming .*after 2 completed rounds", result.stdout), result.stdout
    experiment = client.get_experiment_by_name("digits")
    (run,) = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["lottery.init"] == init_digest(legacy.theta0) and "lottery.verdict" in tags
    assert tags["lottery.config"] == RESUMED_DIGEST and tags["lottery.winning"] in ("true", "false")
    histories = {key: client.get_metric_history(run_id, key) for key in run.data.metrics}
    for key, history in histories.items():
        steps = [m.step for m in history]
        assert len(steps) == len(set(steps)), f"{key} logged twice for a step: {steps}"
    round_keys = ["test_acc", "test_loss", "sparsity", *(f"remaining.{name}" for name in LAYERS)]
    for key in round_keys:
        assert sorted(m.step for m in histories[key]) == [0, 1, 2], key
    for key in ("random_test_acc", "random_test_loss"):
        assert [m.step for m in histories[key]] == [2], key
    stored = {m.step: m.value for m in histories["test_acc"]}
    assert [stored[0], stored[1]] == legacy.test_acc  # the legacy rounds are not retrained

    final = legacy.masks[2]
    assert all(
        np.array_equal(a, legacy.theta0[n])
        for n, a in load(client, run_id, INIT_ARTIFACT, tmp_path / "i").items()
    )
    for artifact in (round_mask_artifact(2), WINNING_MASK_ARTIFACT):
        mask = load(client, run_id, artifact, tmp_path / artifact.replace("/", "_"))
        assert all(m.dtype == np.bool_ and np.array_equal(m, final[n]) for n, m in mask.items()), artifact
    random = load(client, run_id, RANDOM_MASK_ARTIFACT, tmp_path / "r")
    assert {n: int(m.sum()) for n, m in random.items()} == {n: int(m.sum()) for n, m in final.items()}
    kept = sum(int(m.sum()) for m in final.values()) / sum(m.size for m in final.values())
    assert np.isclose({m.step: m.value for m in histories["sparsity"]}[2], 1 - kept)
