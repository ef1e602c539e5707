"""Named arrays on disk as `.npz`: the only format that crosses the tracking store (never pickle)."""

from __future__ import annotations

import codecs
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lottery.errors import UserError

# how every zip archive, and so every .npz file, begins (the second: an archive with no members)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_SNIFF_BYTES = 512


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write `arrays` (name -> array, order kept) to a `.npz` file, as `np.savez` lays it out (one member
    `<name>.npy` each, in order; no pickle), each member deflated unless it is floating point.

    Deflate pays for masks and integers (Conv-2's 4.3 MB bool mask shrinks ~6×) but not for weights:
    Conv-2's θ0, 17.2 MB of float32, shrinks 7 % for ~0.6 s of deflate, and every read inflates it again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for name, value in arrays.items():
            array = np.ascontiguousarray(value)
            member = zipfile.ZipInfo(f"{name}.npy", time.localtime()[:6])
            floating = np.issubdtype(array.dtype, np.floating)
            member.compress_type = zipfile.ZIP_STORED if floating else zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as handle:  # zip64 as numpy: sizes unknown ahead
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return path


def load_arrays(
    path: str | Path,
    names: Sequence[str] | None,
    dtype: np.dtype | type | None = None,
    *,
    source: str | None = None,
) -> dict[str, np.ndarray]:
    """Read exactly the arrays `names` from `path` without pickle, checking keys and dtype; `names` None
    reads whatever arrays it holds (at least one), in the file's order.

    `source` names where the file came from (e.g. an MLflow run) in the error message.
    """
    where = source or str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            if not head.startswith(_ZIP_MAGIC):
                raise _unusable(where, path, f" is corrupt: not an .npz archive ({_contents(head)})")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                keys = list(archive.files)
                names = keys if names is None and keys else names
                if keys != list(names or ()):
                    raise _unusable(
                        where,
                        path,
                        f" holds arrays {keys}, expected {list(names)}, so this tool did not write it",
                    )
                arrays = {name: archive[name] for name in names}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise _unusable(where, path, f" is corrupt or unreadable ({error})") from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # np.load hands back the raw bytes of a member that is not .npy
            raise _unusable(
                where, path, f" is corrupt: not an .npz archive (its member {name!r} is no array)"
            )
        if dtype is not None and array.dtype != np.dtype(dtype):
            raise _unusable(where, path, f"[{name}] has dtype {array.dtype}, expected {np.dtype(dtype)}")
    return arrays


def _unusable(where: str, path: str | Path, problem: str) -> UserError:
    """The one-line error for the file at `path` (from `where`) with `problem`, which follows its name."""
    return UserError(f"{where}: {Path(path).name}{problem}; re-run the trial that produced it")


def _contents(head: bytes) -> str:
    """What a file whose first bytes are `head` holds, when it is not a zip archive, in a few words."""
    if not head:
        return "it is empty"
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return "it holds a single .npy array"
    if head.startswith(b"\x80"):  # the PROTO opcode every pickle since protocol 2 begins with
        return "it holds pickled Python data"
    try:
        # an incremental decoder lets a character cut in two by the end of `head` pass
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return "it holds binary data"
    return "it holds text" if all(c.isprintable() or c.isspace() for c in text) else "it holds binary data"
