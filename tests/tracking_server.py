"""A real MLflow tracking server for tests, started as users start it: `make server`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from entry_points import REPO

# Several seconds on an idle 2-core machine; much longer while other tests load it.
STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    root: Path,
    timeout: float = STARTUP_TIMEOUT,
    host: str = "127.0.0.1",
    port: int | None = None,
    backend: str | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """`make server HOST=host WORKERS=workers` on `port` (default: a free one) over the store `backend`;
    yields its URL on 127.0.0.1, stops it on exit.

    The store is `backend` (a BACKEND_STORE_URI: conftest's `backend_store_uri`), else `root/store/mlflow.db`,
    which the server creates. The artifacts go to `root/artifacts/`, and the server's output to
    `root/server.log`, quoted in the error if the server does not come up.
    """
    port = port or free_port()
    command = [
        "make",
        "--no-print-directory",
        # The venv running the tests is installed: never reinstall it from inside a test.
        "--old-file=.venv/.installed",
        "server",
        f"HOST={host}",
        f"PORT={port}",
        f"BACKEND_STORE_URI={backend or f'sqlite:///{root}/store/mlflow.db'}",
        f"ARTIFACTS_DESTINATION={root}/artifacts",
        f"WORKERS={workers}",
    ]
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    with log.open("wb") as out:
        # Its own process group, so that stopping it reaches make, mlflow and uvicorn's workers alike.
        server = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, log, timeout)
        yield url
    finally:
        stop(server)


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        # Refused until uvicorn listens (URLError is an OSError).
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"no answer from {url}/health after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL whatever is left after `timeout`."""
    group = server.pid  # start_new_session: the group's id is its leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.poll()  # reap make, the leader, so that it does not linger as a zombie of the group
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    server.wait()
