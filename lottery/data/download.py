"""Fetching an official file once: streamed with a progress bar, checked against its published size and MD5.

The bytes go to `<file>.part`; only a download of the published size and MD5 is renamed to `<file>`, so a
truncated, empty or altered download is reported (as a `UserError`) and never used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lottery.errors import UserError, first_line

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Remote:
    """An official file: where it is published, and its published size in bytes and MD5."""

    url: str
    size: int
    md5: str


def _one_line(error: BaseException) -> str:
    """`error` in one line, by urllib's `reason` when it has one (a URLError's message wraps it)."""
    return first_line(getattr(error, "reason", None) or error)


def download(remote: Remote, destination: Path, offline_hint: str) -> Path:
    """Download `remote` to `destination` and verify it; UserError if that fails.

    `offline_hint` tells the user how to do without the network (which files to put where). An OSError
    from the file system (a read-only folder, a full disk) propagates: the caller knows what to advise.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    out = partial.open("wb")  # before the network is tried: a folder that cannot be written fails first
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with (
            out,
            _open(remote.url, offline_hint) as response,
            tqdm(
                total=remote.size, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name
            ) as bar,
        ):
            for chunk in _chunks(response, remote.url, offline_hint):
                out.write(chunk)
                md5.update(chunk)
                bar.update(len(chunk))
            received = out.tell()
        _verify(remote, destination, received, md5.hexdigest())
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def _open(url: str, offline_hint: str):
    """The response to a GET of `url`; UserError if there is none."""
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS)
    except (OSError, ValueError) as error:  # URLError, HTTPError, timeouts; ValueError: a malformed URL
        raise UserError(f"cannot download {url} ({_one_line(error)}); {offline_hint}") from None


def _chunks(response, url: str, offline_hint: str) -> Iterator[bytes]:
    """The body of `response` from `url`, chunk by chunk; UserError if the connection breaks off."""
    received = 0
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise UserError(
                f"download of {url} broke off after {received:,} bytes ({_one_line(error)}); "
                f"re-run to try again, or {offline_hint}"
            ) from None
        if not chunk:
            return
        received += len(chunk)
        yield chunk


def _verify(remote: Remote, destination: Path, size: int, md5: str) -> None:
    if size != remote.size:
        problem = f"is {size:,} bytes, not the published {remote.size:,} (a truncated download?)"
    elif md5 != remote.md5:
        problem = f"has MD5 {md5}, not the published {remote.md5}"
    else:
        return
    raise UserError(
        f"the download of {destination.name} from {remote.url} {problem}; re-run to download it again, "
        f"or put the official file at {destination} by hand"
    )
