"""Fitting a masked classifier with Lightning: one `Trainer` per call, evaluating at the end of each round.

Lightning's banners and its DataLoader-workers warning are silenced for the call only, never globally.
Without progress bars, a `Heartbeat` says one short line per epoch instead. On CUDA, training takes
deterministic algorithms (`deterministic_algorithms`), so that a resumed run equals an uninterrupted one there
too; an operation that has none only warns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping

import pytorch_lightning as pl

from lottery.data.datamodule import DeviceDataModule
from lottery.hparams import ExperimentConfig
from lottery.training.classifier import Classifier
from lottery.training.device import deterministic_algorithms, lightning_accelerator
from lottery.training.progress import RoundProgressBar
from lottery.training.tickets import Evaluation


class Heartbeat(pl.Callback):
    """One line per epoch, in place of the progress bars in a log that is a file:
    `<where(epoch)> · epoch k/n · train loss 0.1234 · 2.1s`, where `epoch` counts the fit's epochs from 0
    and k/n is its place in a round of n = `epochs` epochs; the seconds are the epoch's training.

    Said before the round's evaluation, so before the round's own summary line. The loss is the epoch's
    mean, summed on the device: one host sync per epoch."""

    def __init__(self, say: Callable[[str], None], where: Callable[[int], str], epochs: int) -> None:
        self.say, self.where, self.epochs = say, where, epochs
        self._loss_sum, self._steps, self._start, self._said = None, 0, 0.0, True

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._loss_sum, self._steps, self._start, self._said = None, 0, time.monotonic(), False

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs, batch, idx
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs
        if loss is not None:
            loss = loss.detach().float()
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._steps += 1

    def on_validation_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._beat(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._beat(trainer)

    def _beat(self, trainer: pl.Trainer) -> None:
        if self._said:  # an epoch that ends a round was said when its evaluation started
            return
        self._said = True
        seconds = time.monotonic() - self._start
        loss = f"{self._loss_sum.item() / self._steps:.4f}" if self._steps else "n/a"
        epoch = trainer.current_epoch
        self.say(
            f"{self.where(epoch)} · epoch {epoch % self.epochs + 1}/{self.epochs} · "
            f"train loss {loss} · {seconds:.1f}s"
        )


def fit(
    module: Classifier,
    data: DeviceDataModule,
    config: ExperimentConfig,
    epochs: int,
    callbacks: list[pl.Callback] = (),
    show_progress: bool = True,
) -> Evaluation | None:
    """Train `module` for `epochs` epochs, evaluating on the test split every `config.training.epochs` (the
    end of a round); return the last evaluation (None if no round ended)."""
    handler = signal.getsignal(signal.SIGINT)
    lightning_log = logging.getLogger("pytorch_lightning")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)  # no "GPU available: …" banner for every round
    device = data.train_batches.images.device
    try:
        trainer = pl.Trainer(
            max_epochs=epochs,
            check_val_every_n_epoch=config.training.epochs,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=show_progress,
            precision="bf16-mixed" if config.training.bf16 else "32-true",
            callbacks=[*callbacks, *([RoundProgressBar()] if show_progress else [])],
            deterministic="warn" if deterministic_algorithms(device) else None,
            **lightning_accelerator(device),
        )
        with warnings.catch_warnings():
            # The data are one tensor on the device, batched by index: no DataLoader workers to add.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
            trainer.fit(module, datamodule=data)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into sys.exit(1); keep it a KeyboardInterrupt
            raise KeyboardInterrupt from None
        raise
    finally:
        lightning_log.setLevel(level)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)  # Lightning leaves Ctrl-C ignored after catching one
    return module.evaluation()
