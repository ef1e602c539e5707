"""Named arrays on disk as `.npz`: the only format that crosses the tracking store (never pickle)."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lottery.errors import UserError


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write `arrays` (name -> array, order kept) to a compressed `.npz` file (masks shrink ~10×)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
    return path


def load_arrays(
    path: str | Path,
    names: Sequence[str],
    dtype: np.dtype | type | None = None,
    *,
    source: str | None = None,
) -> dict[str, np.ndarray]:
    """Read exactly the arrays `names` from `path` without pickle, checking keys and dtype.

    `source` names where the file came from (e.g. an MLflow run) in the error message.
    """
    where = source or str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if keys != list(names):
                raise UserError(
                    f"{where}: {Path(path).name} holds arrays {keys}, expected {list(names)}; "
                    "it was not written by this tool — re-run the trial that produced it"
                )
            arrays = {name: archive[name] for name in names}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(
            f"{where}: {Path(path).name} is corrupt or unreadable ({error}); "
            "re-run the trial that produced it"
        ) from None
    if dtype is not None:
        for name, array in arrays.items():
            if array.dtype != np.dtype(dtype):
                raise UserError(
                    f"{where}: {Path(path).name}[{name}] has dtype {array.dtype}, expected "
                    f"{np.dtype(dtype)}; re-run the trial that produced it"
                )
    return arrays
