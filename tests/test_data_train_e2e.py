"""`make train` end to end on miniature official files of each dataset, with no network."""

from __future__ import annotations

import data_fixtures as fx
import pytest
from mlflow import MlflowClient

from experiments import train

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet

WRITERS = {
    "cifar10": fx.write_cifar10,
    "cinic10": fx.write_cinic10,
    "cinic": fx.write_cinic10,
    "svhn": fx.write_svhn,
}


def _args(dataset: str, data_dir) -> list[str]:
    return [
        "--dataset",
        dataset,
        "--data-dir",
        str(data_dir),
        *["--model", "toy", "--trials", "1", "--rounds", "1", "--epochs", "1"],
        *["--batch-size", "10"],  # the miniature train splits hold 30 images: a batch of 60 is refused
        "--no-progress-bar",
    ]


@pytest.mark.parametrize("dataset", list(WRITERS))
def test_trains_from_miniature_files(tmp_path, store_uri, dataset):
    WRITERS[dataset](tmp_path / "data")
    train.main(_args(dataset, tmp_path / "data"))
    client = MlflowClient(store_uri)
    runs = [run for e in client.search_experiments() for run in client.search_runs([e.experiment_id])]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    (logged,) = runs[0].inputs.dataset_inputs
    assert logged.dataset.name == ("cinic10" if dataset == "cinic" else dataset)


def test_offline_without_files_exits_with_one_line_and_records_nothing(tmp_path, store_uri, capsys):
    with pytest.raises(SystemExit) as exited:
        train.main(_args("cifar10", tmp_path / "empty"))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "cannot download" in line and "cifar-10-python.tar.gz" in line and "Traceback" not in err
    client = MlflowClient(store_uri)
    assert not [run for e in client.search_experiments() for run in client.search_runs([e.experiment_id])]
