"""`cinic10` (alias `cinic`): CINIC-10 (Darlow et al., 2018; DOI 10.7488/ds/2448) from Edinburgh DataShare.

Format: `CINIC-10.tar.gz` (687,544,992 bytes, MD5 6ee4d0c996905fe93221de577967a372) unpacks to `train/`,
`valid/` and `test/` (possibly inside one wrapping folder), each with the ten class folders airplane,
automobile, bird, cat, deer, dog, frog, horse, ship, truck of 32×32 PNGs, 9,000 per class and split.
The class folders sorted alphabetically give CIFAR-10's label order. Some PNGs are greyscale: every image
is converted to RGB. Training uses `train` (default) or `train+valid`; testing uses `test`; only the
splits a run needs are decoded. Files: `DATA_DIR/cinic10/{train,valid,test}/<class>/*.png`, or the
archive in `DATA_DIR/cinic10/`. The host has moved over the years: `$CINIC10_URL` overrides the URL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from lottery.data.dataset import Dataset
from lottery.data.download import Remote
from lottery.data.official import OfficialDataset

URL = "https://datashare.ed.ac.uk/server/api/core/bitstreams/e8e186cc-2688-48f1-aa5a-3fda1a43f8b6/content"
ARCHIVE = "CINIC-10.tar.gz"
ARCHIVE_SIZE = 687_544_992
ARCHIVE_MD5 = "6ee4d0c996905fe93221de577967a372"
SPLITS = ("train", "valid", "test")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Cinic10(OfficialDataset):
    name = "cinic10"
    mean = (0.4789, 0.4723, 0.4305)
    std = (0.2421, 0.2383, 0.2587)
    official_sizes = {split: 90_000 for split in SPLITS}
    train_split_choices = ("train", "train+valid")
    url_env = "CINIC10_URL"
    placed_files = f"{ARCHIVE} (or the folders {', '.join(s + '/' for s in SPLITS)} it unpacks to)"

    def source_paths(self, split: str) -> list[Path]:
        """The split's folder and its class folders: adding or removing images changes their times."""
        return [self.root / split, *(self.root / split / name for name in CLASSES)]

    def fetch(self, split: str) -> None:
        self.fetch_archive(ARCHIVE, Remote(self.url(URL), ARCHIVE_SIZE, ARCHIVE_MD5), SPLITS)

    def decode(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self.root / split
        found = sorted(child.name for child in folder.iterdir() if child.is_dir())
        if found != sorted(CLASSES):
            raise self.malformed(folder, f"class folders {found}, expected {list(CLASSES)}")
        files = [
            (path, label)
            for label, name in enumerate(found)
            for path in sorted((folder / name).iterdir())
            if path.suffix.lower() == ".png"
        ]
        images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        for i, (path, _) in enumerate(tqdm(files, desc=f"decoding {self.name} {split} (once)", unit="img")):
            images[i] = self._read_png(path)
        labels = np.array([label for _, label in files], dtype=np.int64)
        return images.transpose(0, 3, 1, 2), labels

    def _read_png(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise self.malformed(path, f"not a readable PNG: {error}") from None
        if pixels.shape != (32, 32, 3):
            raise self.malformed(path, f"{pixels.shape[1]}×{pixels.shape[0]} pixels, expected 32×32")
        return pixels


def load(data_dir: Path, train_splits: str = "train") -> Dataset:
    """CINIC-10 from `data_dir/cinic10/`, trained on `train_splits` ("train" or "train+valid")."""
    return Cinic10(data_dir).load(train_splits)
