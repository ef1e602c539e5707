"""Mistakes caught before they cost a night: the configuration stated first, legal-but-absurd values warned
about or refused (a batch larger than the train split), and a SQLite store in a folder that does not exist
refused rather than started unnoticed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from trial_store import trial_runs

from experiments import train
from lottery.errors import UserError
from lottery.execution.experiment import run_experiment
from lottery.hparams import ADAM_LR, MIN_STEPS, ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import uris

TOY = ExperimentConfig(
    trials=1, training=TrainingHparams(epochs=1), pruning=PruningHparams(rounds=0), model="toy"
)


def config(**training) -> ExperimentConfig:
    return ExperimentConfig(training=TrainingHparams(**training))


def test_the_configuration_line_names_what_make_trains_variables_set_and_what_else_differs():
    assert ExperimentConfig().describe() == (
        "dataset digits · model conv2 · trials 20 · rounds 11 · epochs 10 · batch 60 · lr 0.0002 · "
        "controls random · seed 0"
    )
    argv = ["--trials", "3", "--rounds", "2", "--epochs", "1", "--rewind-step", "5", "--dense-rate", "0.3"]
    described = train.parse([*argv, "--dataset", "cinic", "--bf16"]).config.describe()
    assert described == (
        "dataset cinic10 · model conv2 · trials 3 · rounds 2 · epochs 1 · batch 60 · lr 0.0002 · "
        "controls random · seed 0 · bf16 True · dense_rate 0.3 · rewind_step 5"
    )


def test_absurd_values_are_doubted_and_sane_ones_not():
    assert ExperimentConfig().doubts() == [] and config(lr=ADAM_LR[0]).doubts() == []
    for lr in (ADAM_LR[0] / 2, 0.5):
        (doubt,) = config(lr=lr).doubts()
        assert doubt.startswith(f"LR {lr:g} lies outside 1e-05..0.01")
    (doubt,) = ExperimentConfig(winning_tolerance=50).doubts()
    assert doubt.startswith("a winning tolerance of 50 points")
    assert ExperimentConfig().batch_doubts(1437) == []
    (doubt,) = config(batch_size=1000).batch_doubts(1437)
    assert doubt.startswith("BATCH_SIZE 1000 makes 2 optimizer step(s) an epoch on 1,437 images")
    assert config(batch_size=1437 // MIN_STEPS).batch_doubts(1437) == []


def test_a_batch_larger_than_the_train_split_is_refused_before_any_run(store_uri, tiny_data, capsys):
    """The issue's BATCH_SIZE=100000 on digits' 1,437 images trained one step an epoch."""
    big = replace(TOY, training=TrainingHparams(epochs=1, batch_size=100_000))
    with pytest.raises(UserError) as error:
        run_experiment(big, "unused", store_uri)
    assert str(error.value) == (
        "BATCH_SIZE 100000 exceeds the 120 images of the digits train split: every epoch would be one step; "
        "choose BATCH_SIZE <= 120 (the paper: 60)"
    )
    assert trial_runs(store_uri) == []
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"{big.describe()} · store {store_uri}"  # the first line, before anything else


def test_warnings_follow_the_configuration_line(store_uri, tiny_data, capsys):
    absurd = replace(TOY, training=TrainingHparams(epochs=1, lr=0.5, batch_size=500))
    with pytest.raises(UserError, match="^BATCH_SIZE 500 exceeds"):  # refused before training: a quick test
        run_experiment(absurd, "unused", store_uri)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "dataset digits · model toy · trials 1 · rounds 0 · epochs 1 · batch 500 · lr 0.5"
    )
    assert lines[1].startswith("warning: LR 0.5 lies outside")


def test_a_store_in_a_folder_that_does_not_exist_is_refused(tmp_path):
    """The issue's typo `sqlite:///mlrun/mlflow.db` made a new folder and an empty store, unnoticed."""
    uri = f"sqlite:///{tmp_path}/mlrun/mlflow.db"
    with pytest.raises(UserError) as error:
        run_experiment(TOY, "unused", uri)
    assert str(error.value) == (
        f"the tracking store {uri} would be created in {tmp_path}/mlrun/, which does not exist: check "
        f"MLFLOW_TRACKING_URI for a typo, or create the folder (mkdir -p {tmp_path}/mlrun) for a new store "
        "there"
    )
    assert not (tmp_path / "mlrun").exists()
    uris.check_store_folder(uris.DEFAULT_TRACKING_URI)  # the default store's folder is made when needed
    uris.check_store_folder("http://127.0.0.1:5000")


def test_a_new_store_is_named_as_one_and_its_link_names_it(tmp_path, capsys, monkeypatch):
    (tmp_path / "new").mkdir()
    uri = f"sqlite:///{tmp_path}/new/mlflow.db"

    def stop(uri):  # creating the store is MLflow's (seconds): this test is about the first line
        raise UserError("stopped")

    monkeypatch.setattr("lottery.tracking.store.connect", stop)
    with pytest.raises(UserError, match="stopped"):
        run_experiment(TOY, "unused", uri)
    assert capsys.readouterr().out.splitlines()[0].endswith(f" · store {uri} (new)")
    assert uris.where_to_browse(uri, "1").startswith(
        f"browse it (after `MLFLOW_TRACKING_URI={uri} make ui`): "
    )
    default = uris.where_to_browse(uris.DEFAULT_TRACKING_URI, "1")
    assert default.startswith("browse it (after `make ui`): http://127.0.0.1:5000/#/experiments/1/runs")
