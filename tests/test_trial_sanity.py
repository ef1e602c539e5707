"""A round that diverges fails its trial; a dense network at chance never makes a winning ticket."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from mlflow import MlflowClient
from trial_store import artifact_paths, trial_runs
from trial_tasks import train_trial

from experiments.train import main
from lottery.errors import UserError
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import contract
from lottery.training.verdict import BELOW_DENSE, DENSE_AT_CHANCE, WINNING, chance_threshold, judge

# The toy model: what a trial does when training goes wrong is the subject, not the network.
TINY = [
    *("--dataset", "digits", "--model", "toy"),
    *("--trials", "1", "--rounds", "1", "--epochs", "1", "--no-progress-bar"),
]


def diverged(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def assert_failed_without_ticket(uri: str, rounds_logged: list[int]) -> None:
    (run,) = trial_runs(uri)
    assert run.info.status == "FAILED"
    assert contract.TAG_WINNING not in run.data.tags
    tickets = {"ticket/winning_mask.npz", "ticket/random_mask.npz"}
    assert not tickets & artifact_paths(uri, run.info.run_id)
    history = MlflowClient(uri).get_metric_history(run.info.run_id, "test_acc")
    assert sorted(m.step for m in history) == rounds_logged


def test_a_learning_rate_that_diverges_fails_the_trial_and_makes_no_ticket(capsys, store_uri, tiny_data):
    err = diverged(capsys, "--lr", "1e30")
    assert "round 0 diverged" in err and "at learning rate 1e+30; lower LR" in err
    assert_failed_without_ticket(store_uri, [])


class PoisonRound1(pl.Callback):
    """Makes dense1's weights NaN as round 1 starts (after the IMP callback restarted it)."""

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                module.model.layer("dense1").weight.fill_(float("nan"))


def test_a_later_round_that_diverges_is_named(store_uri, tiny_digits):
    config = ExperimentConfig(
        dataset="digits",
        trials=1,
        training=TrainingHparams(epochs=1),
        pruning=PruningHparams(rounds=1),
        model="toy",
    )
    with pytest.raises(UserError, match="^round 1 diverged \\(the weights of .* are not finite\\)"):
        train_trial(store_uri, config, tiny_digits, [PoisonRound1()])
    assert_failed_without_ticket(store_uri, [0])


def test_a_dense_network_at_chance_makes_no_winning_ticket(capsys, store_uri, tiny_data, monkeypatch):
    # Whatever the network learned, every prediction is class 0: the dense network sits at chance.
    monkeypatch.setattr(
        "lottery.training.classifier.Classifier.forward",
        lambda self, x: (
            self.model(x) * 0 + torch.nn.functional.one_hot(torch.zeros_like(x[:, 0, 0, 0]).long(), 10)
        ),
    )
    main([*TINY, "--winning-tolerance", "100"])
    out = capsys.readouterr().out
    (run,) = trial_runs(store_uri)
    assert run.info.status == "FINISHED"
    assert run.data.tags[contract.TAG_WINNING] == "false"
    assert run.data.tags[contract.TAG_VERDICT] == DENSE_AT_CHANCE
    assert "not winning, the dense network is at chance" in out


def test_chance_is_the_most_frequent_class_plus_a_margin():
    balanced = torch.arange(10).repeat(1000)  # 10,000 test images, as CIFAR-10's
    chance, needed = chance_threshold(balanced)
    assert chance == pytest.approx(0.1) and needed == pytest.approx(0.15)  # 5 points dominate
    skewed = torch.cat([torch.zeros(200, dtype=torch.long), torch.arange(1, 10).repeat(90)])  # 20 % class 0
    assert chance_threshold(skewed)[0] == pytest.approx(200 / 1010)
    small = torch.arange(10).repeat(6)  # 60 images: 3 standard errors of 10 % on 60 exceed 5 points
    assert chance_threshold(small)[1] == pytest.approx(0.1 + 3 * (0.1 * 0.9 / 60) ** 0.5)


@pytest.mark.parametrize(
    ("dense", "final", "code"),
    [
        (0.9, 0.895, WINNING),
        (0.9, 0.88, BELOW_DENSE),
        (0.14, 0.14, DENSE_AT_CHANCE),
        (0.1, 0.5, DENSE_AT_CHANCE),
    ],
)
def test_verdicts(dense, final, code):
    verdict = judge(dense, final, 1.0, torch.arange(10).repeat(1000))
    assert verdict.code == code and verdict.winning == (code == WINNING)
