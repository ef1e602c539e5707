"""IMP as a callback for a user's own LightningModule (tests/own_models.py), without MLflow: the layers in
forward order and their groups, the tickets in memory, one line for each bad input, each round restarting
the optimizer and its schedule, and a fit resumed from its checkpoint ending as an uninterrupted one."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from own_models import RandomImages, Stop, StopAtEpoch, TinyCNN, trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn

from lottery import IterativeMagnitudePruning
from lottery.errors import UserError
from lottery.pruning import mask as masks

LAYERS = ("features.0", "classifier.1", "classifier.3")
SAID = "no MLFlowLogger on the trainer, so nothing is recorded"


def imp(**options) -> IterativeMagnitudePruning:
    return IterativeMagnitudePruning(**{"rounds": 2, "epochs_per_round": 1, **options})


def fit(callback: IterativeMagnitudePruning, model: pl.LightningModule | None = None, **options) -> list[str]:
    """Fit `model` (a TinyCNN) with `callback` from seed 0; return the warnings' messages."""
    pl.seed_everything(0, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(callback, **options).fit(model or TinyCNN(), datamodule=RandomImages())
    return [str(w.message) for w in caught]


class RegisteredBackwards(TinyCNN):
    """Registers its classifier before its features; forward uses the features first."""

    def __init__(self) -> None:
        pl.LightningModule.__init__(self)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3))
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
        self.lr = 1e-2


def test_layers_come_in_forward_order_with_their_groups_rates():
    callback = imp(rates={"classifier.1": 0.5})
    said = fit(callback, RegisteredBackwards())
    tickets = callback.tickets
    assert tickets.layers == LAYERS
    # conv 10 % of 108 weights, classifier.1 its own 50 % of 128, the last linear layer (output) 10 % of 24
    assert masks.counts(tickets.mask(1)) == {"features.0": 97, "classifier.1": 64, "classifier.3": 22}
    assert masks.counts(tickets.mask(2)) == {"features.0": 87, "classifier.1": 32, "classifier.3": 20}
    assert sum(SAID in message for message in said) == 1


def test_without_an_mlflow_logger_the_tickets_stay_in_memory():
    seen = []
    callback = imp(on_round_end=seen.append, controls="random,flipped", winning_tolerance=100)
    model = TinyCNN()
    fit(callback, model)
    tickets = callback.tickets
    assert [r.round for r in seen] == [0, 1, 2] and set(tickets.rounds) == {0, 1, 2}
    assert all(0 <= tickets.rounds[r].acc <= 1 and tickets.rounds[r].loss > 0 for r in tickets.rounds)
    for r in (1, 2):  # nested masks, each round pruning the survivors
        assert all(not (tickets.mask(r)[n] & ~tickets.mask(r - 1)[n]).any() for n in LAYERS)
        assert masks.sparsity(tickets.mask(r)) > masks.sparsity(tickets.mask(r - 1))
        assert all(torch.equal(seen[r].mask[n], tickets.mask(r)[n]) for n in LAYERS)
    assert set(tickets.controls) == {"random", "flipped"} and tickets.verdict.winning
    assert all(torch.equal(tickets.theta0[n], tickets.rewind_point[n]) for n in LAYERS)  # k = 0: θ_k = θ0
    weights = dict(model.named_parameters())  # the flipped ticket trained last, from −θ0 under the final mask
    final = tickets.mask(2)
    assert all(not weights[f"{n}.weight"].detach()[~final[n]].any() for n in LAYERS)


class NoLayers(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def training_step(self, batch, batch_idx):
        return (self.scale * batch[0]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class GrowsItsOutput(TinyCNN):
    """Replaces its output layer by a wider one once the first round is over."""

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1:
            self.classifier[3] = nn.Linear(8, 5)


@pytest.mark.parametrize(
    ("options", "model", "trainer_options", "expected"),
    [
        ({"rates": 1.0}, None, {}, "pruning rates must lie in [0, 1), got 1.0"),
        ({"rates": {"dense": -0.1}}, None, {}, "pruning rates must lie in [0, 1), got -0.1"),
        ({"rates": {"head": 0.2}}, None, {}, "rates names head, neither a group (conv, dense, output)"),
        ({"layers": ["features.1"]}, None, {}, "features.1 is not one (its layers: features.0, classifier.1"),
        ({}, NoLayers, {}, "no prunable layer found in NoLayers"),
        ({"monitor": "val_accuracy"}, None, {}, "the metric 'val_accuracy' that IMP monitors was not logged"),
        ({}, None, {"max_epochs": 2}, "max_epochs=2 ends the fit before IMP does"),
        ({}, None, {"check_val_every_n_epoch": 2}, "check_val_every_n_epoch=2 does not divide"),
        ({}, GrowsItsOutput, {}, "layer classifier.3 was (3, 8) when IMP took θ0 and is (5, 8) now"),
        ({"rounds": 0.5}, None, {}, "rounds must be an integer from 0 to 100, got 0.5"),
    ],
)
def test_bad_input_is_one_line(options, model, trainer_options, expected):
    with pytest.raises(UserError) as error:
        fit(imp(**options), model() if model else None, **trainer_options)
    message = str(error.value)
    assert expected in message and "\n" not in message


def test_a_fit_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one(tmp_path):
    uninterrupted = imp()
    fit(uninterrupted)
    interrupted = imp()
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    with pytest.raises(Stop):  # after round 1 (epoch 1), its checkpoint saved
        fit(interrupted, enable_checkpointing=True, callbacks=[interrupted, checkpoints, StopAtEpoch(2)])
    assert set(interrupted.tickets.rounds) == {0, 1}
    resumed = imp()
    pl.seed_everything(123, verbose=False)  # whatever the streams are now: the checkpoint's are restored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(resumed).fit(TinyCNN(), datamodule=RandomImages(), ckpt_path=tmp_path / "last.ckpt")
    for r in (0, 1, 2):
        assert all(torch.equal(resumed.tickets.mask(r)[n], uninterrupted.tickets.mask(r)[n]) for n in LAYERS)
        assert resumed.tickets.rounds[r] == uninterrupted.tickets.rounds[r]
    assert resumed.tickets.controls == uninterrupted.tickets.controls
    other = IterativeMagnitudePruning(rounds=3, epochs_per_round=1)
    with pytest.raises(UserError, match="rounds=3 \\(checkpoint: 2\\)"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(other).fit(TinyCNN(), datamodule=RandomImages(), ckpt_path=tmp_path / "last.ckpt")


class StepDecay(TinyCNN):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


class EpochStarts(pl.Callback):
    """As each epoch starts, after the IMP callback: its phase, the learning rate, the optimizer's state."""

    def __init__(self, imp: IterativeMagnitudePruning) -> None:
        self.imp, self.seen = imp, []

    def on_train_epoch_start(self, trainer, module) -> None:
        optimizer = trainer.optimizers[0]
        self.seen.append((self.imp.phase, optimizer.param_groups[0]["lr"], len(optimizer.state)))


def test_each_phase_restarts_the_optimizer_and_its_schedule():
    callback = imp(epochs_per_round=2)
    starts = EpochStarts(callback)
    fit(callback, StepDecay(), callbacks=[callback, starts])
    # round 0, rounds 1 and 2, the random ticket: each starts at lr 0.1 with no momentum (6 parameters)
    phases = ["round 0/2", "round 1/2", "round 2/2", "random ticket"]
    assert starts.seen == [(phase, lr, state) for phase in phases for lr, state in ((0.1, 0), (0.05, 6))]
    assert callback.phase is None  # the protocol is over
