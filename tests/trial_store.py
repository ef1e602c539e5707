"""Stores in tests: an empty one, copied from the session's template, and trial runs read back through MLflow
only."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from mlflow import MlflowClient

from lottery.models import spec
from lottery.tracking import contract
from lottery.tracking.arrays import load_arrays


def empty_store(template: Path, directory: Path) -> str:
    """The URI of a fresh, empty SQLite store in `directory`: a copy of `template` (conftest's
    `template_store`), so MLflow's tables are not created again."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, directory / "mlflow.db")
    return f"sqlite:///{directory}/mlflow.db"


def trial_runs(uri: str):
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.`{contract.TAG_ROLE}` = 'trial'")
    return sorted(runs, key=lambda r: int(r.data.tags[contract.TAG_TRIAL]))


def layer_names(uri: str, run_id: str) -> tuple[str, ...]:
    """The prunable layers of the model that run `run_id` trained (its `model` param)."""
    return spec(MlflowClient(uri).get_run(run_id).data.params["model"]).layer_names


def artifact(uri: str, run_id: str, path: str, tmp_path) -> dict[str, np.ndarray]:
    """The arrays of a run's `.npz` artifact, checked to hold exactly its model's layers, in order."""
    layers = layer_names(uri, run_id)
    local = MlflowClient(uri).download_artifacts(run_id, path, dst_path=str(tmp_path))
    with np.load(local, allow_pickle=False) as archive:
        assert list(archive.files) == list(layers)
    return load_arrays(local, layers)


def artifact_paths(uri: str, run_id: str) -> set[str]:
    client = MlflowClient(uri)
    found, pending = set(), [None]
    while pending:
        for item in client.list_artifacts(run_id, pending.pop()):
            (pending.append(item.path) if item.is_dir else found.add(item.path))
    return found
