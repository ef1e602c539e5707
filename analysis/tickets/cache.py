"""The ticket cache: trial runs' remote artifacts kept on local disk so that re-analysing a remote store is
cheap (`analysis.tickets.loading` reads local artifacts in place, never through the cache).

Layout: `<root>/<run_id>/<artifact path>`, e.g. `<root>/3f2a…/ticket/init.npz`. Only FINISHED trial runs are
analysed and their artifacts never change, so a cached file stays valid for good. A miss is downloaded into
a temporary directory inside the root (`.download-*`, never a run id), read there, and only then renamed into
place: an interrupted download never leaves a file that counts as cached. A cached file that fails to read
is downloaded again, once. Deleting the root empties the cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lottery.errors import UserError, first_line
from lottery.tracking import store

T = TypeVar("T")

CACHE_DIR_ENV = "LOTTERY_CACHE_DIR"
_DOWNLOAD_PREFIX = ".download-"


def default_root() -> Path:
    """`$LOTTERY_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/lottery/tickets`."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "lottery" / "tickets"


class TicketCache:
    """Run artifacts cached under `root` (created and checked writable here), with what each read took.

    `downloaded` counts artifacts fetched from the store, `cached` those read from the cache.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.downloaded = 0
        self.cached = 0
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            Path(tempfile.mkdtemp(prefix=_DOWNLOAD_PREFIX, dir=self.root)).rmdir()
        except OSError as error:
            raise self._unusable(error) from None

    def _unusable(self, error: OSError) -> UserError:
        return UserError(
            f"cannot write the ticket cache {self.root} ({error.strerror or first_line(error)}); "
            f"choose a writable directory with --cache-dir DIR or {CACHE_DIR_ENV}, or pass --no-cache"
        )

    def path(self, run_id: str, artifact: str) -> Path:
        """Where run `run_id`'s `artifact` is cached (whether or not it is yet)."""
        return self.root / run_id / artifact

    def read(self, client, run: store.StoredRun, artifact: str, read: Callable[[Path], T]) -> T:
        """`read(local file)` of `run`'s `artifact`, downloaded on a miss.

        `read` is the check a file must pass: its UserError on a cached file discards that file, on a fresh
        download it propagates.
        """
        cached = self.path(run.run_id, artifact)
        if cached.is_file():
            try:
                result = read(cached)
            except UserError:
                pass  # corrupt, truncated or not an .npz archive at all: discarded below
            else:
                self.cached += 1
                return result
        try:
            cached.unlink(missing_ok=True)
            directory = tempfile.mkdtemp(prefix=_DOWNLOAD_PREFIX, dir=self.root)
        except OSError as error:
            raise self._unusable(error) from None
        try:
            downloaded = store.download_artifact(client, run, artifact, directory)
            result = read(downloaded)
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                os.replace(downloaded, cached)
            except OSError as error:
                raise self._unusable(error) from None
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        self.downloaded += 1
        return result
