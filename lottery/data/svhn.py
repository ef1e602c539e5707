"""`svhn`: the Street View House Numbers cropped digits (Netzer et al., 2011) from the Stanford UFLDL site.

Format: `train_32x32.mat` (73,257 digits; 182,040,794 bytes, MD5 e26dedcc434d2e4c54c9b2d4a06d8373) and
`test_32x32.mat` (26,032; 64,275,384 bytes, MD5 eb5a983be6a315427106f1b164d9cef3) are MATLAB v5 files
holding `X`, uint8 32×32×3×N (row, column, channel, image), and `y`, N×1 labels 1..10 where 10 stands
for the digit 0 (mapped to label 0 here). Files: `DATA_DIR/svhn/{train,test}_32x32.mat`; each split's
file is downloaded only when that split is needed, from `$SVHN_URL` (a folder URL) if set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lottery.data.dataset import Dataset
from lottery.data.download import Remote, download
from lottery.data.official import OfficialDataset

URL = "http://ufldl.stanford.edu/housenumbers/"
FILES = {
    "train": ("train_32x32.mat", 182_040_794, "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": ("test_32x32.mat", 64_275_384, "eb5a983be6a315427106f1b164d9cef3"),
}


class Svhn(OfficialDataset):
    name = "svhn"
    mean = (0.4377, 0.4438, 0.4728)
    std = (0.1980, 0.2010, 0.1970)
    official_sizes = {"train": 73_257, "test": 26_032}
    url_env = "SVHN_URL"
    placed_files = " and ".join(filename for filename, _, _ in FILES.values())

    def source_paths(self, split: str) -> list[Path]:
        return [self.root / FILES[split][0]]

    def fetch(self, split: str) -> None:
        filename, size, md5 = FILES[split]
        remote = Remote(self.url(URL).rstrip("/") + "/" + filename, size, md5)
        download(remote, self.root / filename, self.offline_hint())

    def decode(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        import scipy.io  # a third of a second: only where an SVHN file is read

        (path,) = self.source_paths(split)
        try:
            mat = scipy.io.loadmat(path, variable_names=["X", "y"])
        # truncated files raise OSError; MATLAB v7.3 (HDF5) files NotImplementedError
        except (scipy.io.matlab.MatReadError, ValueError, OSError, NotImplementedError, TypeError) as error:
            raise self.malformed(path, f"not a readable MATLAB v5 file: {error}") from None
        if "X" not in mat or "y" not in mat:
            raise self.malformed(path, "expected the variables X and y")
        x, y = mat["X"], mat["y"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
            raise self.malformed(path, f"X is {x.dtype} {x.shape}, expected uint8 32×32×3×N")
        labels = self.checked_labels(y, path, low=1, high=10)
        if labels.shape != (x.shape[3],):
            raise self.malformed(path, f"{x.shape[3]} images but {labels.size} labels")
        return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels % 10


def load(data_dir: Path, train_splits: str = "train") -> Dataset:
    """SVHN from `data_dir/svhn/`: train 73,257, test 26,032 digits (the extra split is not used)."""
    return Svhn(data_dir).load(train_splits)
