"""The MLflow glue: experiments with explicit artifact locations, the .npz round trip, corrupt artifacts."""

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from lottery.errors import UserError
from lottery.models.conv2 import Network as Conv2
from lottery.tracking import contract, store
from lottery.tracking.arrays import save_arrays
from lottery.tracking.trial_record import TrialRecord

LAYER_NAMES = Conv2.SPEC.layer_names

ARRAYS = {name: np.arange(6, dtype=np.float32).reshape(2, 3) * i for i, name in enumerate(LAYER_NAMES)}


@pytest.fixture
def record(store_uri, tmp_path):
    client = store.connect(store_uri)
    experiment = store.experiment_id(client, "digits")
    return TrialRecord(client, client.create_run(experiment, run_name="digits/trial-00"))


def test_local_experiments_get_an_explicit_artifact_location(store_uri, tmp_path):
    client = store.connect(store_uri)
    experiment = client.get_experiment(store.experiment_id(client, "digits"))
    assert experiment.artifact_location == (tmp_path / "store" / "artifacts" / "digits").as_uri()
    assert store.experiment_id(client, "digits") == experiment.experiment_id
    assert experiment.tags[contract.EXPERIMENT_KIND] == contract.MODEL_TRAINING


def test_arrays_round_trip_through_the_store_without_pickle(record):
    record.log_arrays("ticket/init.npz", ARRAYS)
    loaded = record.load_arrays("ticket/init.npz", np.float32)
    assert list(loaded) == list(LAYER_NAMES)
    assert all(np.array_equal(loaded[n], ARRAYS[n]) for n in LAYER_NAMES)


def test_a_corrupt_artifact_is_one_clear_error(record, tmp_path):
    bad = tmp_path / "mask.npz"
    bad.write_bytes(b"not a zip file")
    MlflowClient(record.client.tracking_uri).log_artifact(record.run_id, str(bad), "rounds/1")
    with pytest.raises(UserError, match=rf"run digits/trial-00 \({record.run_id}\): mask.npz is corrupt"):
        record.load_mask("rounds/1/mask.npz")


def test_wrong_layers_or_dtype_are_rejected(record, tmp_path):
    record.log_arrays("ticket/init.npz", {"conv1": ARRAYS["conv1"]})
    with pytest.raises(UserError, match="holds arrays \\['conv1'\\]"):
        record.ensure_theta0({})
    record.log_arrays("rounds/1/mask.npz", ARRAYS)
    with pytest.raises(UserError, match="dtype float32, expected bool"):
        record.load_mask("rounds/1/mask.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{n: np.array([object()], dtype=object) for n in LAYER_NAMES})
    from lottery.tracking.arrays import load_arrays

    with pytest.raises(UserError, match="corrupt or unreadable"):
        load_arrays(path, LAYER_NAMES)
    save_arrays(tmp_path / "ok.npz", ARRAYS)
    assert load_arrays(tmp_path / "ok.npz", LAYER_NAMES)["output"].shape == (2, 3)


def test_theta0_is_logged_once_then_read_back(record):
    theta0 = {name: torch.from_numpy(array) for name, array in ARRAYS.items()}
    assert record.ensure_theta0(theta0) is theta0
    again = record.ensure_theta0({})
    assert all(torch.equal(again[n], theta0[n]) for n in LAYER_NAMES)


def test_a_missing_artifact_is_one_clear_error(record):
    with pytest.raises(UserError, match="cannot download rounds/3/mask.npz"):
        record.load_mask("rounds/3/mask.npz")


def test_an_artifact_is_downloaded_without_looking_the_run_up(record, tmp_path, monkeypatch):
    """From the run's artifact root: no `runs:/` resolution, which costs two run lookups a file (round trips
    to a remote server)."""
    record.log_arrays("ticket/init.npz", ARRAYS)
    monkeypatch.setattr(MlflowClient, "get_run", lambda *args: pytest.fail("looked the run up"))
    local = store.download_artifact(record.client, record, "ticket/init.npz", tmp_path / "down")
    assert local.read_bytes() == next((tmp_path / "store").rglob("init.npz")).read_bytes()
