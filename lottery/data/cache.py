"""The decode-once cache: each split of a dataset as two memory-mappable `.npy` files and a JSON manifest.

Layout, in `DATA_DIR/<dataset>/cache/`:

    <split>.images.npy   uint8 N×3×32×32 (C order)
    <split>.labels.npy   int64 N, values 0..9
    <split>.json         {"format": 1, "count": N, "digest": Split.digest(), "source": fingerprint}

`source` fingerprints the files the split was decoded from (names, sizes, modification times), so
replacing them makes the cache stale. Every file is written under a temporary name and renamed into
place, the manifest last: a half-written cache has no manifest and never looks valid. Reading checks
the manifest, the arrays' dtypes and shapes and the digest; a cache that fails any check is rebuilt.
A cache that cannot be written (a read-only folder, a full disk) is skipped with a warning.
Deleting the folder forces a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import torch

from lottery.data.dataset import Split
from lottery.data.filesystem import describe

CACHE_FORMAT = 1

log = logging.getLogger(__name__)


class _Unusable(Exception):
    """Why a cached split cannot be used."""


def source_fingerprint(paths: Sequence[Path], root: Path) -> str:
    """A digest of the paths' names (relative to `root`), sizes and modification times."""
    sha = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        sha.update(f"{path.relative_to(root).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return sha.hexdigest()[:16]


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write `path` through `write(handle)` under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class SplitCache:
    """The cached splits of one dataset, in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _paths(self, split: str) -> tuple[Path, Path, Path]:
        d = self.directory
        return d / f"{split}.images.npy", d / f"{split}.labels.npy", d / f"{split}.json"

    def read(self, split: str, fingerprint: str | None) -> Split | None:
        """The cached `split`, or None if there is none or it is stale or corrupt (then logged).

        `fingerprint` is that of the source files now on disk; None when they are absent, in which case
        any intact cache is used.
        """
        manifest_path = self._paths(split)[2]
        if not manifest_path.exists():
            return None
        try:
            return self._read(split, fingerprint)
        except _Unusable as reason:
            log.warning("%s: cached %s split %s; rebuilding it", self.directory, split, reason)
            return None

    def _read(self, split: str, fingerprint: str | None) -> Split:
        images_path, labels_path, manifest_path = self._paths(split)
        try:
            manifest = json.loads(manifest_path.read_text())
            count, digest, source = manifest["count"], manifest["digest"], manifest["source"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise _Unusable(f"has an unreadable manifest ({type(error).__name__})") from None
        if manifest.get("format") != CACHE_FORMAT:
            raise _Unusable(f"has format {manifest.get('format')!r}, this version writes {CACHE_FORMAT}")
        if fingerprint is not None and source != fingerprint:
            raise _Unusable("is stale (its source files changed)")
        try:
            images = np.load(images_path, allow_pickle=False)
            labels = np.load(labels_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise _Unusable(f"is corrupt ({error})") from None
        if images.dtype != np.uint8 or images.shape != (count, 3, 32, 32):
            raise _Unusable(f"is corrupt (images {images.dtype} {images.shape}, manifest says {count})")
        if labels.dtype != np.int64 or labels.shape != (count,):
            raise _Unusable(f"is corrupt (labels {labels.dtype} {labels.shape}, manifest says {count})")
        loaded = Split(torch.from_numpy(images), torch.from_numpy(labels))
        if loaded.digest() != digest:
            raise _Unusable("is corrupt (its digest does not match its manifest)")
        return loaded

    def write(self, split: str, images: np.ndarray, labels: np.ndarray, fingerprint: str) -> Split:
        """Cache `split` (images uint8 N×3×32×32, labels int64 N) decoded from sources with `fingerprint`.

        Returns the split; one that cannot be cached (a read-only folder, a full disk) is returned all the
        same, with a warning: decoding it again next time costs only time.
        """
        decoded = Split(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))
        try:
            self._write(split, decoded, fingerprint)
        except OSError as error:
            log.warning(
                "cannot cache the %s split in %s (%s): it will be decoded again on every run until that "
                "folder is writable",
                split,
                self.directory,
                describe(error, self.directory),
            )
        return decoded

    def _write(self, split: str, decoded: Split, fingerprint: str) -> None:
        images_path, labels_path, manifest_path = self._paths(split)
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest_path.unlink(missing_ok=True)
        _write_atomically(images_path, lambda f: np.save(f, decoded.images.numpy(), allow_pickle=False))
        _write_atomically(labels_path, lambda f: np.save(f, decoded.labels.numpy(), allow_pickle=False))
        manifest = {
            "format": CACHE_FORMAT,
            "count": len(decoded),
            "digest": decoded.digest(),
            "source": fingerprint,
        }
        _write_atomically(manifest_path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
