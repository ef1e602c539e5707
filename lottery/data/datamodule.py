"""The LightningDataModule over a dataset already on the training device: index-sliced batches."""

from __future__ import annotations

from dataclasses import replace

import pytorch_lightning as pl
import torch

from lottery.data.batches import Normalizer, SequentialBatches, ShuffledBatches
from lottery.data.dataset import Dataset, Split

EVAL_BATCH_SIZE = 1000


def on_device(dataset: Dataset, device: torch.device) -> Dataset:
    """The same dataset with both splits' uint8 tensors moved to `device` (done once per experiment)."""
    moved = (Split(s.images.to(device), s.labels.to(device)) for s in (dataset.train, dataset.test))
    return replace(dataset, **dict(zip(("train", "test"), moved, strict=True)))


class DeviceDataModule(pl.LightningDataModule):
    """Train batches of `batch_size` from a seeded device-side permutation; the test split serves as the
    validation set, evaluated in order. `seed_entropy` and `first_epoch` fix the batch order."""

    def __init__(
        self, dataset: Dataset, batch_size: int, seed_entropy: tuple[int, ...], first_epoch: int = 0
    ):
        super().__init__()
        device = dataset.train.images.device
        normalize = Normalizer(dataset.mean, dataset.std, device)
        self.train_batches = ShuffledBatches(dataset.train, normalize, batch_size, seed_entropy, first_epoch)
        self.test_batches = SequentialBatches(dataset.test, normalize, EVAL_BATCH_SIZE)

    def train_dataloader(self) -> ShuffledBatches:
        return self.train_batches

    def val_dataloader(self) -> SequentialBatches:
        return self.test_batches
