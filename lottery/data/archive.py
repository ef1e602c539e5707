"""Unpacking an official `.tar.gz` safely and into place one whole top-level folder at a time.

Only plain members are unpacked: regular files and folders at relative paths inside the tree (all an
official archive holds; a link, a device or a `../` path makes the archive unreadable), owned by this
process's user, without set-id bits or write access for others — also on Pythons before 3.11.4, whose
tarfile lacks the "data" filter (Debian 12's python3.11 is 3.11.2); where it has it, the filter applies too.
They are unpacked into a temporary folder beside the destination; each wanted top-level entry is then
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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from lottery.errors import UserError

_DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


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
                tar.extractall(scratch, members=_plain(members), **_DATA_FILTER)
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


def _plain(members: Iterable[tarfile.TarInfo]) -> Iterator[tarfile.TarInfo]:
    """The members, each checked to be a regular file or a folder at a relative path inside the tree
    (TarError otherwise), made this process's user's, its mode at most rwxr-xr-x."""
    for member in members:
        path = PurePosixPath(member.name)
        if not (member.isfile() or member.isdir()) or path.is_absolute() or ".." in path.parts:
            raise tarfile.TarError(f"{member.name!r} is not a plain file or folder inside the archive")
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
        member.mode &= 0o755
        yield member


def _entries_folder(scratch: Path, entries: Sequence[str]) -> Path:
    """`scratch`, or its only subfolder when the entries sit inside one wrapping folder."""
    if any((scratch / entry).exists() for entry in entries):
        return scratch
    children = [child for child in scratch.iterdir() if child.is_dir()]
    return children[0] if len(children) == 1 else scratch
