"""The dataset names users type, their aliases, the loader behind each, and the folder each keeps its files
in. Light: importing it loads no dataset module (nor torch)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from lottery.data.filesystem import dataset_folder
from lottery.errors import UserError

if TYPE_CHECKING:
    from lottery.data.dataset import Dataset

# canonical name -> module under lottery.data whose `load(data_dir, train_splits)` returns a Dataset
DATASETS: dict[str, str] = {
    "digits": "lottery.data.digits",
    "cifar10": "lottery.data.cifar10",
    "cinic10": "lottery.data.cinic10",
    "svhn": "lottery.data.svhn",
}
ALIASES: dict[str, str] = {
    "cinic": "cinic10",
    "cifar": "cifar10",
    "cifar-10": "cifar10",
    "cinic-10": "cinic10",
}
# the datasets shipped with a library, read from no file under DATA_DIR
WITHOUT_FILES = frozenset({"digits"})


def canonical_name(name: str) -> str:
    """The canonical dataset name for `name` (case-insensitive, aliases resolved); UserError if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        choices = ", ".join(sorted([*DATASETS, *ALIASES]))
        raise UserError(f"unknown dataset {name!r}: choose one of {choices}")
    return key


def load_dataset(name: str, data_dir: str | Path = "data", train_splits: str = "train") -> Dataset:
    """Load dataset `name`, training on `train_splits`; the files live under `data_dir` (not for `digits`)."""
    module = importlib.import_module(DATASETS[canonical_name(name)])
    return module.load(Path(data_dir), train_splits)


def data_folder(name: str, data_dir: str | Path = "data") -> Path | None:
    """The folder under `data_dir` that dataset `name` keeps its files in, made if missing; None for one read
    from no files. UserError (one line, as its loader would raise it: `filesystem.dataset_folder`) where it
    cannot be made — checked without loading the dataset's module, so before anything heavy."""
    key = canonical_name(name)
    return None if key in WITHOUT_FILES else dataset_folder(key, Path(data_dir))
