"""Why a file or folder under DATA_DIR could not be used, in a few words for a one-line message."""

from __future__ import annotations

import errno
from pathlib import Path


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
