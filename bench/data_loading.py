"""Loading each dataset from its cache, and the batch path against a torchvision DataLoader, side by side.

The real files cannot be fetched here, so each dataset gets a synthetic cache of its official size
(random pixels) in a temporary DATA_DIR, loaded through the real loader (`lottery.data.load_dataset`,
which checks the cache's digest). Then, on the CPU, batches of 60:

- batch path: the training's own `ShuffledBatches` — the uint8 tensor already on the device, a
  device-side permutation sliced per batch, each batch normalised as (x/255 − mean)/std;
- DataLoader: a map-style `Dataset` whose `__getitem__` turns one HWC uint8 image into a tensor with
  torchvision's `ToTensor` + `Normalize`, batched by `torch.utils.data.DataLoader` (shuffled, no workers).

The batch path runs a whole epoch, the DataLoader the first DATALOADER_IMAGES images (to keep the run
short); the two alternate REPEATS times and the medians are reported, so that load from other processes
on the machine hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms

from lottery.data.batches import Normalizer, ShuffledBatches
from lottery.data.cache import SplitCache
from lottery.data.dataset import Split
from lottery.data.registry import load_dataset

OFFICIAL_SIZES = {
    "cifar10": {"train": 50_000, "test": 10_000},
    "cinic10": {"train": 90_000, "test": 90_000},
    "svhn": {"train": 73_257, "test": 26_032},
}
BATCH_SIZE = 60
DATALOADER_IMAGES = 6_000
REPEATS = 3


def write_synthetic_cache(data_dir: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    cache = SplitCache(data_dir / name / "cache")
    for split, n in OFFICIAL_SIZES[name].items():
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        cache.write(split, images, rng.integers(0, 10, size=n).astype(np.int64), fingerprint="synthetic")


def batch_path_rate(train: Split, mean, std) -> float:
    device = torch.device("cpu")
    batches = ShuffledBatches(train, Normalizer(mean, std, device), BATCH_SIZE, seed_entropy=(0,))
    started = time.perf_counter()
    for images, labels in batches:
        images.sum(), labels.sum()  # noqa: B018 — touch the batch as a training step would
    return len(train) / (time.perf_counter() - started)


class PerImage(torch.utils.data.Dataset):
    """The usual torchvision pipeline: one HWC uint8 image at a time through `transform`."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), int(self.labels[index])


def dataloader_rate(train: Split, mean, std) -> float:
    n = min(DATALOADER_IMAGES, len(train))
    images_hwc = np.ascontiguousarray(train.images[:n].numpy().transpose(0, 2, 3, 1))
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    loader = DataLoader(PerImage(images_hwc, train.labels[:n].numpy(), transform), BATCH_SIZE, shuffle=True)
    started = time.perf_counter()
    for images, labels in loader:
        images.sum(), labels.sum()  # noqa: B018
    return n / (time.perf_counter() - started)


def main() -> None:
    torch.manual_seed(0)
    print(
        f"CPU, batch {BATCH_SIZE}, synthetic caches of the official sizes; medians of {REPEATS} runs: "
        f"batch path over the whole train split, DataLoader over {DATALOADER_IMAGES:,} images"
    )
    header = ("dataset", "train/test", "cache MB", "load s", "batch path img/s", "DataLoader img/s", "ratio")
    print("  ".join(f"{h:>16}" for h in header))
    for name in OFFICIAL_SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cache(Path(tmp), name)
            megabytes = sum(p.stat().st_size for p in (Path(tmp) / name / "cache").iterdir()) / 1e6
            started = time.perf_counter()
            dataset = load_dataset(name, tmp)
            load_seconds = time.perf_counter() - started
        fast_runs, slow_runs = [], []
        for _ in range(REPEATS):
            fast_runs.append(batch_path_rate(dataset.train, dataset.mean, dataset.std))
            slow_runs.append(dataloader_rate(dataset.train, dataset.mean, dataset.std))
        fast, slow = statistics.median(fast_runs), statistics.median(slow_runs)
        row = (
            name,
            f"{len(dataset.train):,}/{len(dataset.test):,}",
            f"{megabytes:,.0f}",
            f"{load_seconds:.2f}",
            f"{fast:,.0f}",
            f"{slow:,.0f}",
            f"{fast / slow:,.0f}×",
        )
        print("  ".join(f"{cell:>16}" for cell in row), flush=True)


if __name__ == "__main__":
    main()
