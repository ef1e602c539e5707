"""Progress on a terminal that reads like the protocol: one bar per round, `round 3/11 · epoch 2/10`.

`RoundProgressBar` is the Lightning progress bar `fit` gives its Trainer when bars are shown. A round is the
trainer's `check_val_every_n_epoch` epochs (E; `fit` evaluates at the end of each round); its bar counts the
round's E × (batches an epoch) optimizer steps, with tqdm's elapsed and remaining time, and says which epoch
of the round is training, then `testing` while the round's evaluation runs. The bar is cleared when the
round ends: the round's summary line, printed above it, is what stays on screen. What trains — `round r/R`,
or a control such as `random ticket` — is the IMP callback's among the trainer's callbacks
(`IterativeMagnitudePruning.phase`); without one the bar says `epoch e/E` alone.

Lightning's own bar counts epochs across rounds (`Epoch 3` with EPOCHS=2), keeps each finished bar and
labels the evaluation `Validation DataLoader 0`; none of that appears here.
"""

from __future__ import annotations

import sys
from typing import TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks.progress.progress_bar import ProgressBar
from tqdm import tqdm

from lottery.training.imp import IterativeMagnitudePruning


class RoundProgressBar(ProgressBar):
    """A bar per round, on `stream` (default: stdout when the bar starts, where the summary lines go)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream
        self._bar: tqdm | None = None
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        per_round = epochs_per_round(trainer)
        description = f"{where(trainer)}epoch {trainer.current_epoch % per_round + 1}/{per_round}"
        if self._bar is not None:
            self._bar.set_description(description)
            return
        self._bar = tqdm(
            desc=description,
            total=per_round * trainer.num_training_batches,
            file=self.stream or sys.stdout,
            leave=False,
            dynamic_ncols=True,
            unit="step",
            disable=not self._enabled,
        )

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if self._bar is not None:
            self._bar.update()

    def on_validation_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._bar is not None:
            self._bar.set_description(f"{where(trainer)}testing")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._close()  # the round has ended

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def epochs_per_round(trainer: pl.Trainer) -> int:
    """E: the epochs from one evaluation to the next (`check_val_every_n_epoch`), at most the fit's."""
    return min(trainer.check_val_every_n_epoch or trainer.max_epochs, trainer.max_epochs)


def where(trainer: pl.Trainer) -> str:
    """`round r/R · ` (a control's: `random ticket · `) from the trainer's IMP callback; empty without one."""
    imp = next((c for c in trainer.callbacks if isinstance(c, IterativeMagnitudePruning)), None)
    phase = None if imp is None else imp.phase
    return "" if phase is None else f"{phase} · "
