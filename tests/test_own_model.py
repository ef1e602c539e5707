"""Your own Lightning model, end to end: the example of docs/own-model.md, run as written in a process of its
own into a temporary store — three trials of two rounds of a model with layer names of its own on random
images — gives runs that the analysis turns into Table 1 (random, WTs, mixed) under the model's class name,
and those runs carry the tracking contract as `make train`'s do; a fit resumed from its checkpoint under a
new MLflow run records there all an uninterrupted fit's run holds."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import preloaded
import pytest
import pytorch_lightning as pl
from entry_points import REPO
from mlflow import MlflowClient
from own_models import RandomImages, Stop, StopAtEpoch, TinyCNN, trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger
from trial_store import artifact_paths, empty_store, trial_runs

from analysis.__main__ import main as analyse
from lottery import IterativeMagnitudePruning
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import contract
from lottery.tracking.arrays import load_arrays

pytestmark = pytest.mark.drivers

EXAMPLE = re.search(r"```python\n(.*?)```", (REPO / "docs" / "own-model.md").read_text(), re.S).group(1)
LAYERS = ["features.0", "classifier.1", "classifier.3"]


@pytest.fixture(scope="module")
def example(tmp_path_factory, template_store) -> str:
    """The store the example trained into: 3 trials, 2 rounds of one epoch, every final ticket winning."""
    directory = tmp_path_factory.mktemp("own-model")
    uri = empty_store(template_store, directory / "store")
    script = directory / "own_model.py"
    script.write_text(EXAMPLE)
    artifacts = directory / "store" / "artifacts"
    train = (
        f"import runpy; from pathlib import Path; runpy.run_path({str(script)!r}, run_name='own_model')"
        f"['train']({uri!r}, Path({str(artifacts)!r}), epochs=1, winning_tolerance=100)"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    result = preloaded.run(
        [sys.executable, "-c", train], cwd=directory, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line for line in result.stdout.splitlines() if line.startswith("trial ")] == [
        f"trial {k}: winning" for k in range(3)
    ]
    return uri


def test_the_example_gives_runs_the_analysis_turns_into_table_1(example, capsys, monkeypatch, undrawn):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", example)
    analyse(["--pairs", "3", "--ties", "first"])
    out = capsys.readouterr().out
    assert "loading the tickets of 3 SmallCNN trial runs (random-images)" in out
    table = out[out.index("Table 1 — NNSTD± against random") :].split("\n\n")[0].splitlines()
    rows = [
        line.split()[0]
        for line in table[table.index(next(r for r in table if r.startswith("condition"))) + 1 :]
    ]
    assert rows == ["random", "WTs_random-images", "mixed_random-images"]
    client = MlflowClient(example)
    (analysis,) = client.search_runs(
        [client.get_experiment_by_name("analysis").experiment_id],
        f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
    )
    assert analysis.data.params["model"] == "SmallCNN"


def contract_of(uri: str, run) -> dict:
    """What the tracking contract says of a trial run: its artifacts, metrics and their steps, tag and param
    names (but the lease's, which belong to make train's drivers, and MLflow's own), status."""
    client = MlflowClient(uri)
    metrics = {}
    for key in run.data.metrics:
        name = "remaining.*" if key.startswith("remaining.") else key
        metrics[name] = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
    return {
        "artifacts": artifact_paths(uri, run.info.run_id),
        "metrics": metrics,
        "tags": {k for k in run.data.tags if not k.startswith("mlflow.") and k != contract.TAG_LEASE},
        "params": {k for k in run.data.params if not k.startswith(contract.LEASE_PARAM_PREFIX)},
        "status": run.info.status,
    }


def test_the_example_runs_carry_the_tracking_contract_of_make_train(
    example, tmp_path, template_store, tiny_digits
):
    ours = empty_store(template_store, tmp_path / "make-train")
    config = ExperimentConfig(
        dataset="digits",
        trials=1,
        training=TrainingHparams(epochs=1),
        pruning=PruningHparams(rounds=2),
        model="toy",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("lottery.data.registry.load_dataset", lambda *args, **kwargs: tiny_digits)
        run_experiment(config, "unused", ours, say=lambda line: None, show_progress=False)
    (made,) = trial_runs(ours)
    own = trial_runs(example)[0]
    expected, found = contract_of(ours, made), contract_of(example, own)
    expected["params"] -= {"trials"}  # how many trials a driver runs: not a callback run's
    users = {"val_acc", "val_loss", "epoch"}  # what the model and Lightning log besides: theirs
    assert set(found["metrics"]) - set(expected["metrics"]) <= users
    found["metrics"] = {k: v for k, v in found["metrics"].items() if k not in users}
    assert found == expected
    params, tags = own.data.params, own.data.tags
    assert params["model"] == "SmallCNN" and params["init"] == "the model's own"
    assert params["optimizer"] == "adam" and params["lr"] == "0.003"
    assert params["rounds"] == "2" and params["dense_rate"] == "0.2" and params["batch_size"] == "64"
    assert tags[contract.TAG_ROLE] == contract.ROLE_TRIAL and tags[contract.TAG_DATASET] == "random-images"
    assert own.info.run_name == "random-images/trial-00"
    local = MlflowClient(example).download_artifacts(own.info.run_id, contract.INIT_ARTIFACT, str(tmp_path))
    with np.load(local, allow_pickle=False) as init:
        assert init.files == LAYERS


def logged_fit(uri: str, tmp_path, name: str, ckpt_path=None, extra=()) -> str:
    """IMP of TinyCNN (2 rounds of an epoch, the random ticket) into a new MLflow run; its id."""
    imp = IterativeMagnitudePruning(rounds=2, epochs_per_round=1, dataset="random-images")
    logger = MLFlowLogger(
        experiment_name="own",
        run_name=name,
        tracking_uri=uri,
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    options = {"logger": logger, "enable_checkpointing": True, "callbacks": [imp, checkpoints, *extra]}
    pl.seed_everything(0, verbose=False)
    try:
        trainer(imp, **options).fit(TinyCNN(), datamodule=RandomImages(), ckpt_path=ckpt_path)
    finally:
        run_id = logger.run_id
    return run_id


def test_a_fit_resumed_under_a_new_run_records_there_all_the_uninterrupted_run_holds(store_uri, tmp_path):
    whole = logged_fit(store_uri, tmp_path / "whole", "whole")
    with pytest.raises(Stop):
        logged_fit(store_uri, tmp_path / "cut", "cut", extra=[StopAtEpoch(2)])
    resumed = logged_fit(
        store_uri, tmp_path / "resumed", "resumed", tmp_path / "cut" / "checkpoints" / "last.ckpt"
    )
    client = MlflowClient(store_uri)
    runs = {name: client.get_run(run_id) for name, run_id in (("whole", whole), ("resumed", resumed))}
    cut = client.search_runs([runs["whole"].info.experiment_id], "attributes.run_name = 'cut'")[0]
    assert contract.TAG_ROLE not in cut.data.tags  # an unfinished ticket: the analysis leaves it alone
    assert runs["resumed"].data.tags[contract.TAG_ROLE] == contract.ROLE_TRIAL
    paths = artifact_paths(store_uri, whole)
    assert artifact_paths(store_uri, resumed) == paths and len(paths) == 5  # θ0, 2 rounds, 2 tickets
    for path in paths:
        whole_arrays, resumed_arrays = (
            load_arrays(client.download_artifacts(r, path, str(tmp_path / r)), LAYERS)
            for r in (whole, resumed)
        )
        assert all(np.array_equal(whole_arrays[n], resumed_arrays[n]) for n in LAYERS), path
    for key in ("test_acc", "test_loss", "sparsity", "random_test_acc"):
        history = [
            sorted((m.step, m.value) for m in client.get_metric_history(r, key)) for r in (whole, resumed)
        ]
        assert history[0] == history[1], key
    assert runs["resumed"].data.params == runs["whole"].data.params
