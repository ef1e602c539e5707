"""A user's own Lightning model and data, written outside the package as a user writes them: a tiny CNN
with layer names of its own (`features.0`, `classifier.1`, `classifier.3`) on random 3×8×8 images whose
labels it can learn, shuffled by a DataLoader (the global random stream), for the callback's tests."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lottery import IterativeMagnitudePruning


class TinyCNN(pl.LightningModule):
    def __init__(self, lr: float = 1e-2) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3))
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        return F.cross_entropy(self(images), labels)

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        logits = self(images)
        self.log("val_loss", F.cross_entropy(logits, labels))
        self.log("val_acc", (logits.argmax(1) == labels).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class RandomImages(pl.LightningDataModule):
    """96 train and 32 validation images, labelled by the most correlated of three fixed patterns."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(128, 3, 8, 8, generator=generator)
        y = (x.flatten(1) @ torch.randn(3 * 8 * 8, 3, generator=generator)).argmax(1)
        self.train_set, self.val_set = TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=32, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=32)


class Stop(Exception):
    """Stands in for whatever stops a fit (a crash, a time limit)."""


class StopAtEpoch(pl.Callback):
    """Stops the fit as epoch `epoch` starts, after the checkpoint of the epoch before."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.epoch:
            raise Stop


def trainer(imp: IterativeMagnitudePruning, **options) -> pl.Trainer:
    """A quiet Trainer on the CPU for the whole protocol of `imp` (options override)."""
    settings = dict(
        max_epochs=imp.max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[imp],
    )
    return pl.Trainer(**{**settings, **options})
