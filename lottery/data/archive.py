"""Unpacking an official `.tar.gz` safely and into place one whole top-level folder at a time.

Members are unpacked with tarfile's "data" filter (no absolute paths, no links leaving the tree, no
device files) into a temporary folder beside the destination; each wanted top-level entry is then
renamed into place in one step, so an interrupted extraction never leaves a half-filled folder where a
complete one is expected. Entries may sit at the archive's top level or inside one wrapping folder
(`CINIC-10/train/…`). An entry already present is kept as it is.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from lottery.errors import UserError


def extract(archive: Path, destination: Path, entries: Sequence[str]) -> None:
    """Unpack from `archive` those of the top-level `entries` that `destination` lacks.

    UserError for an archive that cannot be read as .tar.gz; an OSError of the file system (a folder that
    cannot be written, a full disk) propagates, for the caller to advise on.
    """
    destination.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extracting-", dir=destination))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tqdm(tar, desc=f"extracting {archive.name} (once)", unit=" files")
                tar.extractall(scratch, members=members, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise UserError(
                f"{archive} is not a readable .tar.gz archive ({' '.join(str(error).split())}); "
                "delete it and re-run to download it again, or replace it with the official file"
            ) from None
        base = _entries_folder(scratch, entries)
        for entry in entries:
            if (base / entry).exists() and not (destination / entry).exists():
                os.replace(base / entry, destination / entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _entries_folder(scratch: Path, entries: Sequence[str]) -> Path:
    """`scratch`, or its only subfolder when the entries sit inside one wrapping folder."""
    if any((scratch / entry).exists() for entry in entries):
        return scratch
    children = [child for child in scratch.iterdir() if child.is_dir()]
    return children[0] if len(children) == 1 else scratch
