"""Batches sliced from one uint8 tensor on the training device (no DataLoader, no per-image Python).

Each batch is normalised on the device: x' = (x / 255 − mean) / std, channel-wise. The batch order is drawn
on the CPU's generator and copied to the device, so a seed gives the same batches on every device (CUDA's
generator draws another permutation than the CPU's from the same seed).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from lottery.data.dataset import Split
from lottery.seeds import derive


class Normalizer:
    """Maps a uint8 batch N×3×H×W to float32, normalised per channel."""

    def __init__(self, mean, std, device: torch.device) -> None:
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, 3, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() * self.scale - self.shift


class ShuffledBatches:
    """One epoch per iteration: a fresh permutation, seeded by (seed, …, epoch index), drawn on the CPU.

    Epoch e (counting from `first_epoch`, one per `iter()`) uses seed derive(*seed_entropy, e), so a
    resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(
        self,
        split: Split,
        normalize: Normalizer,
        batch_size: int,
        seed_entropy: tuple[int, ...],
        first_epoch: int = 0,
    ) -> None:
        self.images, self.labels = split.images, split.labels
        self.normalize, self.batch_size = normalize, batch_size
        self.seed_entropy, self.epoch = seed_entropy, first_epoch

    def __len__(self) -> int:
        return -(-self.labels.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(derive(*self.seed_entropy, self.epoch))
        self.epoch += 1
        order = torch.randperm(self.labels.shape[0], generator=generator).to(self.images.device)
        for start in range(0, order.numel(), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.normalize(self.images[index]), self.labels[index]


class SequentialBatches:
    """The split in order, for evaluation."""

    def __init__(self, split: Split, normalize: Normalizer, batch_size: int) -> None:
        self.images, self.labels = split.images, split.labels
        self.normalize, self.batch_size = normalize, batch_size

    def __len__(self) -> int:
        return -(-self.labels.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.labels.shape[0], self.batch_size):
            end = start + self.batch_size
            yield self.normalize(self.images[start:end]), self.labels[start:end]
