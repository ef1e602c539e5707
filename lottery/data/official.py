"""What CIFAR-10, CINIC-10 and SVHN share: find or fetch the official files, decode each split once, cache it.

A dataset lives in `DATA_DIR/<name>/`. For each split a run needs, `OfficialDataset.split`:

1. uses the cache (`cache.SplitCache`) when it is intact and its source files are unchanged or absent;
2. otherwise makes the source files exist — files the user placed are used as they are, a placed
   archive is extracted, and only then is the official file downloaded (verified) and extracted;
3. decodes the split with the dataset's own small reader and caches it.

Splits whose size differs from the official one are used, with a warning; so are splits that cannot be
cached (a read-only DATA_DIR). A DATA_DIR that cannot be used otherwise (a file, read-only with files
missing, unreadable, full) ends in one UserError naming the path.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lottery.data.archive import extract
from lottery.data.cache import SplitCache, source_fingerprint
from lottery.data.dataset import Dataset, Split
from lottery.data.download import Remote, download
from lottery.data.filesystem import DOCS, dataset_folder, unusable
from lottery.errors import UserError

log = logging.getLogger(__name__)


class OfficialDataset(ABC):
    """One of the paper's datasets in `DATA_DIR/<name>/`; subclasses know its files and format."""

    name: ClassVar[str]
    mean: ClassVar[tuple[float, float, float]]
    std: ClassVar[tuple[float, float, float]]
    official_sizes: ClassVar[Mapping[str, int]]
    train_split_choices: ClassVar[Sequence[str]] = ("train",)
    # what a user without network puts into DATA_DIR/<name>/, for error messages
    placed_files: ClassVar[str]
    # the environment variable that overrides the download URL
    url_env: ClassVar[str]

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / self.name
        self.cache = SplitCache(self.root / "cache")

    @abstractmethod
    def source_paths(self, split: str) -> list[Path]:
        """The files (or folders) `split` is decoded from, whether or not they exist yet."""

    @abstractmethod
    def fetch(self, split: str) -> None:
        """Make `split`'s source paths exist: extract a placed archive or download the official files."""

    @abstractmethod
    def decode(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """`split` read from its source files: images uint8 N×3×32×32, labels int64 N in 0..9."""

    def malformed(self, path: Path, problem: str) -> UserError:
        """The (one-line) error for a source file that does not have the official format."""
        problem = " ".join(problem.split())
        return UserError(
            f"{path} is not a well-formed {self.name} file ({problem}); replace it with the official file "
            f"(see {DOCS})"
        )

    def checked_labels(self, labels: np.ndarray, path: Path, low: int = 0, high: int = 9) -> np.ndarray:
        """`labels` from `path` flattened to int64, after checking they lie in low..high."""
        try:
            labels = np.asarray(labels).reshape(-1).astype(np.int64)
        except (TypeError, ValueError) as error:
            raise self.malformed(path, f"labels are not integers: {error}") from None
        if labels.size and (labels.min() < low or labels.max() > high):
            raise self.malformed(path, f"labels {labels.min()}..{labels.max()}, expected {low}..{high}")
        return labels

    def offline_hint(self) -> str:
        return (
            f"without network, put {self.placed_files} into {self.root}/ (see {DOCS}); "
            f"or set {self.url_env} to a reachable copy"
        )

    def url(self, default: str) -> str:
        """The download URL: `$<url_env>` if set (a mirror, or the host's new address), else `default`."""
        return os.environ.get(self.url_env) or default

    def fetch_archive(self, filename: str, remote: Remote, entries: Sequence[str]) -> None:
        """Extract `entries` from `DATA_DIR/<name>/<filename>`, downloading that archive first if missing."""
        archive = self.root / filename
        if not archive.exists():
            download(remote, archive, self.offline_hint())
        extract(archive, self.root, entries)

    def split(self, split: str) -> Split:
        """`split`, from the cache when it is valid, else decoded from the source files and cached."""
        paths = self.source_paths(split)
        present = all(path.exists() for path in paths)
        loaded = self.cache.read(split, source_fingerprint(paths, self.root) if present else None)
        if loaded is None:
            if not present:
                self.fetch(split)
                missing = [str(path.relative_to(self.root)) for path in paths if not path.exists()]
                if missing:
                    raise UserError(
                        f"{self.name} {split} split: {self.root} lacks {', '.join(missing)}; put the missing "
                        f"files there, or remove the incomplete folder so it is extracted again (see {DOCS})"
                    )
            loaded = self.cache.write(split, *self.decode(split), source_fingerprint(paths, self.root))
        if len(loaded) != self.official_sizes[split]:
            log.warning(
                f"{self.name} {split} split: {len(loaded):,} images where the official one has "
                f"{self.official_sizes[split]:,}; using the files in {self.root} as they are"
            )
        return loaded

    def load(self, train_splits: str = "train") -> Dataset:
        """The dataset trained on `train_splits` (e.g. "train" or "train+valid") and tested on "test"."""
        if train_splits not in self.train_split_choices:
            choices = " or ".join(self.train_split_choices)
            raise UserError(f"{self.name} has no training split {train_splits!r}; choose {choices}")
        dataset_folder(self.name, self.root.parent)
        try:
            parts = [self.split(part) for part in train_splits.split("+")]
            test = self.split("test")
        except OSError as error:  # a DATA_DIR that is a file, read-only, unreadable or full
            raise unusable(self.name, error, self.root) from None
        train = (
            parts[0]
            if len(parts) == 1
            else Split(torch.cat([part.images for part in parts]), torch.cat([part.labels for part in parts]))
        )
        return Dataset(self.name, train, test, self.mean, self.std, source=str(self.root.resolve()))
