"""Shared fixtures: a temporary MLflow store and a tiny dataset that trains in a second."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lottery.data.dataset import Split
from lottery.data.digits import load as load_digits


@pytest.fixture
def store_uri(tmp_path, monkeypatch) -> str:
    """A fresh SQLite tracking store, also exported as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def tiny_digits():
    """120 train / 60 test images of `digits`: enough to train Conv-2 for a round in about a second."""
    full = load_digits()
    return replace(
        full,
        name="digits",
        train=Split(full.train.images[:120].clone(), full.train.labels[:120].clone()),
        test=Split(full.test.images[:60].clone(), full.test.labels[:60].clone()),
    )


@pytest.fixture
def tiny_data(monkeypatch, tiny_digits):
    """Make every experiment train on `tiny_digits`, whatever dataset it names."""
    monkeypatch.setattr("lottery.execution.experiment.load_dataset", lambda *args, **kwargs: tiny_digits)
    return tiny_digits
