"""`digits`: scikit-learn's bundled handwritten digits (1,797 images, 8×8), offline.

Each 8×8 image (values 0..16) is scaled to 0..255, upscaled ×4 to 32×32 by bilinear interpolation and
copied to three channels. The split is a fixed, seeded, stratified 80/20 split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lottery.data.dataset import Dataset, Split
from lottery.errors import UserError

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _upscale(images8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images8.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.to(torch.float64) / 255.0
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist())


def load(data_dir: Path | None = None, train_splits: str = "train") -> Dataset:
    """The digits; `data_dir` is not used (scikit-learn ships them), `train_splits` must be "train"."""
    if train_splits != "train":
        raise UserError(f"digits has no training split {train_splits!r}; choose train")
    bunch = load_digits()
    images8 = bunch.images
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    images = _upscale(images8)
    train = Split(images[train_idx].contiguous(), torch.from_numpy(labels[train_idx]))
    test = Split(images[test_idx].contiguous(), torch.from_numpy(labels[test_idx]))
    mean, std = _channel_stats(train.images)
    return Dataset("digits", train, test, mean, std, source="sklearn.datasets.load_digits")
