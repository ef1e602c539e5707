"""Every trial run says what trained it (device, its name, torch/CUDA/cuDNN versions, precision flags), and a
run resumed on another device records the new one without MLflow refusing anything."""

from __future__ import annotations

import torch
from mlflow import MlflowClient
from trial_store import trial_runs

from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import contract, provenance


def test_a_trial_run_carries_its_device_and_versions(store_uri, tiny_data):
    config = ExperimentConfig(
        dataset="digits",
        trials=1,
        training=TrainingHparams(epochs=1),
        pruning=PruningHparams(rounds=1),
        model="toy",
    )
    run_experiment(config, "unused", store_uri, say=lambda line: None, show_progress=False)
    (run,) = trial_runs(store_uri)
    tags = run.data.tags
    assert tags[contract.TAG_DEVICE] == "cpu" and tags[contract.TAG_DEVICE_NAME].endswith(" CPU")
    assert tags[contract.TAG_TORCH] == torch.__version__
    assert tags[contract.TAG_CUDA] == (torch.version.cuda or "none")
    assert tags[contract.TAG_PRECISION] == "fp32"
    assert tags[contract.TAG_DEVICES] == f"cpu ({tags[contract.TAG_DEVICE_NAME]})"


def test_a_run_resumed_on_another_device_records_both(store_uri):
    client = MlflowClient(store_uri)
    run_id = client.create_run(client.create_experiment("digits")).info.run_id
    here = provenance.environment(torch.device("cpu"))
    gpu = {
        **here,
        contract.TAG_DEVICE: "cuda:0",
        contract.TAG_DEVICE_NAME: "NVIDIA H100 80GB HBM3 (sm_90)",
        contract.TAG_CUDA: "13.0",
        contract.TAG_PRECISION: "tf32 matmul off, tf32 cudnn on, deterministic on",
    }
    for session in (here, gpu, here):
        provenance.record(client, run_id, session)
    tags = client.get_run(run_id).data.tags
    assert tags[contract.TAG_DEVICE] == "cpu" and tags[contract.TAG_CUDA] == here[contract.TAG_CUDA]
    assert tags[contract.TAG_DEVICES] == (
        f"cpu ({here[contract.TAG_DEVICE_NAME]}); cuda:0 (NVIDIA H100 80GB HBM3 (sm_90))"
    )
