"""Datasets by name: `load_dataset(name, data_dir)` gives a `Dataset` of uint8 tensors."""

from lottery.data.dataset import Dataset, Split
from lottery.data.registry import DATASETS, canonical_name, load_dataset

__all__ = ["DATASETS", "Dataset", "Split", "canonical_name", "load_dataset"]
