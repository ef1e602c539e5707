"""Reading a trial store back in tests, through MLflow only."""

from __future__ import annotations

import numpy as np
from mlflow import MlflowClient

from lottery.models.conv2 import Network as Conv2
from lottery.tracking import contract
from lottery.tracking.arrays import load_arrays

LAYER_NAMES = Conv2.SPEC.layer_names


def trial_runs(uri: str):
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.`{contract.TAG_ROLE}` = 'trial'")
    return sorted(runs, key=lambda r: int(r.data.tags[contract.TAG_TRIAL]))


def artifact(uri: str, run_id: str, path: str, tmp_path) -> dict[str, np.ndarray]:
    local = MlflowClient(uri).download_artifacts(run_id, path, dst_path=str(tmp_path))
    with np.load(local, allow_pickle=False) as archive:
        assert list(archive.files) == list(LAYER_NAMES)
    return load_arrays(local, LAYER_NAMES)


def artifact_paths(uri: str, run_id: str) -> set[str]:
    client = MlflowClient(uri)
    found, pending = set(), [None]
    while pending:
        for item in client.list_artifacts(run_id, pending.pop()):
            (pending.append(item.path) if item.is_dir else found.add(item.path))
    return found
