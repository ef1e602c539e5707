"""Miniature but well-formed copies of the official dataset files, written into a temporary DATA_DIR.

Each writer returns what the loader must produce, split → (images uint8 N×3×32×32, labels int64 N),
computed from the pixels written rather than by the loaders' own reshaping. Also: network stubs (the
`no_network` fixture of conftest blocks it for a whole module), so no test reaches the internet, and
`read_only`, a folder that refuses writes even to root.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lottery.data.dataset import Dataset

Expected = dict[str, tuple[np.ndarray, np.ndarray]]

# the per-channel (mean, std) the issue gives for each train split
PUBLISHED_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cinic10": ((0.4789, 0.4723, 0.4305), (0.2421, 0.2383, 0.2587)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
# CIFAR-10's classes in label order; CINIC-10 has the same ones
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _pixels(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random images N×32×32×3 (HWC)."""
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _chw(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))


def make_tar_gz(archive: Path, folder: Path, members: list[str], wrap: str | None = None) -> Path:
    """Pack `folder/<member>` for each member into `archive`, optionally inside a wrapping folder."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            tar.add(folder / member, arcname=f"{wrap}/{member}" if wrap else member)
    return archive


def python2_style_pickle(obj) -> bytes:
    """A protocol-2 pickle naming numpy's array reconstructor as the official (Python 2 era) files do."""
    return pickle.dumps(obj, protocol=2).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_cifar10(data_dir: Path, per_batch: int = 4, n_test: int = 10, archive: bool = False) -> Expected:
    """The python-version batches (pickles of {b"data": N×3072 uint8, b"labels": [...]}) plus batches.meta.

    Rows are laid out as in the official files: the red plane, then green, then blue, each row-major.
    With `archive`, only `cifar10/cifar-10-python.tar.gz` is written.
    """
    rng = np.random.default_rng(10)
    root = data_dir / "cifar10"
    folder = (root / "scratch" if archive else root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    expected: Expected = {}
    for split, names, n in (
        ("train", [f"data_batch_{i}" for i in range(1, 6)], per_batch),
        ("test", ["test_batch"], n_test),
    ):
        images, labels = [], []
        for name in names:
            hwc = _pixels(rng, n)
            rows = np.concatenate([hwc[..., c].reshape(n, 1024) for c in range(3)], axis=1)
            batch_labels = [int(v) for v in rng.integers(0, 10, size=n)]
            batch = {b"batch_label": name.encode(), b"labels": batch_labels, b"data": rows, b"filenames": []}
            (folder / name).write_bytes(python2_style_pickle(batch))
            images.append(_chw(hwc))
            labels += batch_labels
        expected[split] = (np.concatenate(images), np.array(labels, dtype=np.int64))
    meta = {
        b"label_names": [c.encode() for c in CLASSES],
        b"num_cases_per_batch": per_batch,
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(python2_style_pickle(meta))
    if archive:
        make_tar_gz(root / "cifar-10-python.tar.gz", folder.parent, ["cifar-10-batches-py"])
        shutil.rmtree(folder.parent)
    return expected


def write_svhn(data_dir: Path, n_train: int = 30, n_test: int = 20) -> Expected:
    """`svhn/{train,test}_32x32.mat` by scipy.io.savemat: X 32×32×3×N uint8, y N×1 in 1..10 (10 = digit 0)."""
    import scipy.io  # a third of a second: only where a test writes SVHN files

    rng = np.random.default_rng(11)
    root = data_dir / "svhn"
    root.mkdir(parents=True)
    expected: Expected = {}
    for split, n in (("train", n_train), ("test", n_test)):
        hwc = _pixels(rng, n)
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
        y[0, 0] = 10  # every split holds a zero digit
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": hwc.transpose(1, 2, 3, 0), "y": y})
        expected[split] = (_chw(hwc), np.where(y[:, 0] == 10, 0, y[:, 0]).astype(np.int64))
    return expected


def write_cinic10(
    data_dir: Path,
    per_class: int = 3,
    splits: tuple[str, ...] = ("train", "valid", "test"),
    archive: bool = False,
    wrap: str | None = None,
) -> Expected:
    """`cinic10/<split>/<class>/*.png`, all RGB but one greyscale image in each split's `cat` folder.

    With `archive`, only `cinic10/CINIC-10.tar.gz` is written (its splits inside `wrap`, if given).
    """
    rng = np.random.default_rng(12)
    root = data_dir / "cinic10"
    base = root / "scratch" if archive else root
    expected: Expected = {}
    for split in splits:
        images, labels = [], []
        for label, name in enumerate(CLASSES):
            folder = base / split / name
            folder.mkdir(parents=True)
            for i, hwc in enumerate(_pixels(rng, per_class)):
                if name == "cat" and i == 0:
                    grey = hwc[..., 0]
                    Image.fromarray(grey).save(folder / f"{i:04d}.png")
                    hwc = np.repeat(grey[..., None], 3, axis=2)
                else:
                    Image.fromarray(hwc).save(folder / f"{i:04d}.png")
                images.append(hwc)
                labels.append(label)
        expected[split] = (_chw(np.stack(images)), np.array(labels, dtype=np.int64))
    if archive:
        make_tar_gz(root / "CINIC-10.tar.gz", base, list(splits), wrap=wrap)
        shutil.rmtree(base)
    return expected


def assert_loaded(dataset: Dataset, name: str, expected: Expected) -> None:
    """`dataset` is `name` with the published statistics; its splits are exactly the expected arrays."""
    assert dataset.name == name and (dataset.mean, dataset.std) == PUBLISHED_STATS[name]
    for split, got in (("train", dataset.train), ("test", dataset.test)):
        assert got.images.dtype == torch.uint8 and got.labels.dtype == torch.int64
        np.testing.assert_array_equal(got.images.numpy(), expected[split][0])
        np.testing.assert_array_equal(got.labels.numpy(), expected[split][1])


def block_network(monkeypatch) -> list[str]:
    """Make every download fail as it does offline; returns the list of URLs that were tried."""
    tried: list[str] = []

    def offline(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tried


def serve(monkeypatch, payload: bytes) -> list[str]:
    """Make every download return `payload`; returns the list of URLs that were requested."""
    requested: list[str] = []

    def respond(url, *args, **kwargs):
        requested.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", respond)
    return requested


def read_only(monkeypatch, folder: Path) -> None:
    """Make `folder` act, in this process, as if on a read-only file system: making, opening for writing,
    renaming or deleting anything in it fails with EROFS (root writes through permission bits)."""
    folder = folder.absolute()

    def check(path) -> None:
        path = Path(path).absolute()
        if path == folder or folder in path.parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def refusing(function, *checked: int):
        def wrapper(*args, **kwargs):
            for index in checked:
                check(args[index])
            return function(*args, **kwargs)

        return wrapper

    # Path.mkdir, Path.unlink and tempfile.mkdtemp go through these
    monkeypatch.setattr(os, "mkdir", refusing(os.mkdir, 0))
    monkeypatch.setattr(os, "unlink", refusing(os.unlink, 0))
    monkeypatch.setattr(os, "replace", refusing(os.replace, 0, 1))
    opened = Path.open

    def open_path(self, mode="r", *args, **kwargs):
        if set(mode) & set("wax+"):
            check(self)
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_path)
