"""The in-memory form every dataset takes: uint8 images N×3×32×32 and int64 labels 0..9 per split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Split:
    """One split: `images` uint8 N×3×32×32 (CHW), `labels` int64 N in 0..9."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if (
            self.images.dtype != torch.uint8
            or self.images.dim() != 4
            or tuple(self.images.shape[1:]) != (3, 32, 32)
        ):
            raise ValueError(
                f"images must be uint8 N×3×32×32, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 of length {self.images.shape[0]}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) over the image and label bytes: tells copies of a dataset apart.

        Computed once per split (a split's tensors are never modified in place).
        """
        known = self.__dict__.get("_digest")
        if known is None:
            sha = hashlib.sha256()
            sha.update(self.images.contiguous().numpy())
            sha.update(self.labels.contiguous().numpy())
            known = sha.hexdigest()[:16]
            object.__setattr__(self, "_digest", known)
        return known


@dataclass(frozen=True)
class Dataset:
    """A dataset ready for training: both splits plus the per-channel statistics of the train split.

    Images are normalised on the training device as x' = (x / 255 − mean) / std, channel-wise.
    """

    name: str
    train: Split
    test: Split
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) over both splits' digests."""
        return hashlib.sha256(f"{self.train.digest()}:{self.test.digest()}".encode()).hexdigest()[:16]
