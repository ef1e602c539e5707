"""`cifar10`: CIFAR-10 (Krizhevsky, 2009) from the official python archive, read without torchvision.

Format: `cifar-10-python.tar.gz` (170,498,071 bytes, MD5 c58f30108f718f92721af3b95e74349a) unpacks to
`cifar-10-batches-py/` with `data_batch_1` … `data_batch_5` (the 50,000 train images) and `test_batch`
(10,000). Each batch is a Python 2 pickle of a dict: b"data" is a uint8 array N×3,072, one image per row
— 1,024 red values, then 1,024 green, then 1,024 blue, each plane 32×32 in row-major order, so a row
reshapes straight to 3×32×32 (CHW) — and b"labels" is a list of N labels 0..9.

The pickles are read with `pickle.load(…, encoding="bytes")` through an unpickler that admits only what
a numpy array needs, so a batch file cannot run code. Files: `DATA_DIR/cifar10/cifar-10-batches-py/`,
or the archive in `DATA_DIR/cifar10/`; the URL is `$CIFAR10_URL` if set.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from lottery.data.dataset import Dataset
from lottery.data.download import Remote
from lottery.data.official import OfficialDataset

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_SIZE = 170_498_071
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

# the globals a pickled numpy uint8 array refers to (numpy 1 and 2 names; `_codecs.encode` for bytes
# pickled by Python 3 at protocol 2)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


class Cifar10(OfficialDataset):
    name = "cifar10"
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    official_sizes = {"train": 50_000, "test": 10_000}
    url_env = "CIFAR10_URL"
    placed_files = f"{ARCHIVE} (or the folder {FOLDER}/ it unpacks to)"

    def source_paths(self, split: str) -> list[Path]:
        return [self.root / FOLDER / batch for batch in BATCHES[split]]

    def fetch(self, split: str) -> None:
        self.fetch_archive(ARCHIVE, Remote(self.url(URL), ARCHIVE_SIZE, ARCHIVE_MD5), [FOLDER])

    def decode(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        batches = [self._read_batch(path) for path in self.source_paths(split)]
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    def _read_batch(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        try:
            with path.open("rb") as f:
                batch = _ArrayUnpickler(f, encoding="bytes").load()
        except Exception as error:  # malformed pickles fail in many ways; none may pass as a batch
            raise self.malformed(path, f"not a readable pickle: {error}") from None
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise self.malformed(path, 'expected a dict with b"data" and b"labels"')
        data = batch[b"data"]
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3072
        ):
            raise self.malformed(path, 'b"data" is not a uint8 array N×3072')
        labels = self.checked_labels(batch[b"labels"], path)
        if labels.shape != (data.shape[0],):
            raise self.malformed(path, f"{data.shape[0]} images but {labels.size} labels")
        return data.reshape(-1, 3, 32, 32), labels


def load(data_dir: Path, train_splits: str = "train") -> Dataset:
    """CIFAR-10 from `data_dir/cifar10/`: train 50,000, test 10,000 images."""
    return Cifar10(data_dir).load(train_splits)
