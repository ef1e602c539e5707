"""DATA_DIR as a dataset read from files finds it: its folder made or refused (`dataset_folder`), and why a
file or folder under it could not be used, in a few words for a one-line message (`describe`, `unusable`).
Imports nothing heavy: `run_experiment` refuses a bad DATA_DIR with it before torch loads."""

from __future__ import annotations

import errno
from pathlib import Path

from lottery.errors import UserError

DOCS = "README.md, section Datasets"


def dataset_folder(dataset: str, data_dir: Path) -> Path:
    """`data_dir/<dataset>/`, where `dataset` keeps its files, made (with `data_dir`) if missing; the first
    thing its loader does, and what `run_experiment` checks before anything heavy loads.

    UserError (`unusable`) where it cannot be made: a DATA_DIR that is a file or lies under one, a file in the
    dataset folder's place, a read-only or unreadable folder where it does not exist yet. A folder that exists
    is left as it is: whether it must be written is known only once the files it lacks are
    (`official.OfficialDataset.split`)."""
    folder = Path(data_dir) / dataset
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise unusable(dataset, error, folder) from None
    return folder


def unusable(dataset: str, error: OSError, fallback: Path) -> UserError:
    """The one-line refusal of a DATA_DIR `dataset` cannot use (a file, read-only, unreadable, full), naming
    the path (`describe`) and the fix."""
    return UserError(
        f"{dataset}: {describe(error, fallback)}; set DATA_DIR (--data-dir) to a folder this user can read "
        f"and write, with room for the dataset (see {DOCS})"
    )


def describe(error: OSError, fallback: Path) -> str:
    """`error` as "<path>: <reason>", or "<path> is a file, not a folder" when a file blocks a folder's place.

    `fallback` stands for the path when `error` names none (a full disk fails a write, not a name).
    """
    path = Path(error.filename) if error.filename else fallback
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    return f"{path}: {error.strerror or error}"
