"""The science, pinned bit for bit: the README's demo gives the same tickets, and a seed the same batch order,
whatever is refactored underneath.

The digests were taken from the code before the GPU, library and consolidation work (commit ee69985). Torch's
CPU kernels reduce in an order that depends on the number of threads, so the demo runs on one thread here:
one thread is the same computation on every machine of this kind. A change that alters a single weight's
update flips some mask entries and fails the pin. The demo's process is forked from the tests' preloaded
interpreter (`preloaded`), which imported the libraries only: our code runs in it as in a fresh interpreter,
and the digests are those a fresh interpreter gives.
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np
import preloaded
import pytest
from entry_points import REPO
from mlflow import MlflowClient
from trial_store import trial_runs

from lottery.tracking import contract

# `make train DATASET=digits TRIALS=2 ROUNDS=2 EPOCHS=1`, one torch thread: per trial, a digest of each array
DEMO_ARTIFACTS = (
    contract.INIT_ARTIFACT,
    contract.round_mask_artifact(1),
    contract.round_mask_artifact(2),
    contract.WINNING_MASK_ARTIFACT,
    contract.RANDOM_MASK_ARTIFACT,
)
DEMO_DIGESTS = [
    ["64d58cfe02ee137d", "91a0be374c47a2b2", "02695aa4d1422362", "02695aa4d1422362", "a4576bb3eec7d58b"],
    ["843ef54d39d62109", "f85cbfb8dd936a82", "4e84aa555f879624", "4e84aa555f879624", "20d144c3d3915e66"],
]
# the batch order of the first two epochs of (seed 0, trial 0, IMP batches) over 1,437 images (digits' split)
BATCH_ORDER_DIGESTS = ["5516cb5122624dfc", "df82351293d0deca"]


def digest(arrays) -> str:
    sha = hashlib.sha256()
    for name in arrays.files if hasattr(arrays, "files") else arrays:
        sha.update(name.encode())
        sha.update(np.ascontiguousarray(arrays[name]).tobytes())
    return sha.hexdigest()[:16]


@pytest.mark.drivers
def test_the_demo_gives_the_pinned_masks(tmp_path):
    (tmp_path / "store").mkdir()  # make train refuses a store in a folder that does not exist
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = ["--dataset", "digits", "--trials", "2", "--rounds", "2", "--epochs", "1", "--no-progress-bar"]
    result = preloaded.run(
        [sys.executable, "-m", "experiments.train", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    client = MlflowClient(uri)
    found = []
    for run in trial_runs(uri):
        digests = []
        for artifact in DEMO_ARTIFACTS:
            path = client.download_artifacts(run.info.run_id, artifact, dst_path=str(tmp_path / "out"))
            with np.load(path, allow_pickle=False) as arrays:
                digests.append(digest(arrays))
        found.append(digests)
    assert found == DEMO_DIGESTS


def test_the_batch_order_is_pinned():
    import torch

    from lottery.data.batches import Normalizer, ShuffledBatches
    from lottery.data.dataset import Split
    from lottery.seeds import IMP_BATCHES_STREAM

    images = torch.zeros(1437, 3, 32, 32, dtype=torch.uint8)
    split = Split(images, torch.arange(1437, dtype=torch.int64))
    batches = ShuffledBatches(
        split, Normalizer((0, 0, 0), (1, 1, 1), torch.device("cpu")), 60, (0, 0, IMP_BATCHES_STREAM)
    )
    orders = [torch.cat([labels for _, labels in batches]).numpy() for _ in range(2)]
    assert [digest({"order": order}) for order in orders] == BATCH_ORDER_DIGESTS
