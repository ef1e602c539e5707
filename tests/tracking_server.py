"""A real MLflow tracking server for tests: started as users start it (`make server`: `running_server`), or
MLflow's server app alone, forked from the preloaded interpreter (`app_server`).

A start of `make server` costs about 10 s of CPU: nine of them import MLflow twice, in its command and in
the uvicorn process that command starts. The tests of the command itself (its options, checks, output and
security lists) start it; those whose subject is a driver, a lease or an analysis talking to a server take
`app_server`: the same app over the same store with the same settings, in about 1.5 s of CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import preloaded
from entry_points import REPO

from experiments.security import security_settings
from experiments.serving import environment

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
    # Its own process group, so that stopping it reaches make, mlflow and uvicorn's workers alike.
    with answering(subprocess.Popen, command, root, port, timeout, env=None) as (url, _):
        yield url


@contextlib.contextmanager
def app_server(
    root: Path,
    backend: str,
    port: int | None = None,
    started: list | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> Iterator[str]:
    """MLflow's server app on 127.0.0.1:`port` (default: a free one) over the store `backend`, proxying
    artifacts to `root/artifacts`, with the variables `make server` gives it (`environment`, from
    experiments.serving: its security lists, no job runner, quiet); yields its URL, stops it on exit. Its
    process is appended to `started`, for a test that stops it midway; its output goes to
    `root/server.log`."""
    port = port or free_port()
    env = environment(security_settings("127.0.0.1", port, ""), verbose=False)
    app = Path(__file__).with_name("mlflow_app.py")
    command = [sys.executable, app, backend, root / "artifacts", "127.0.0.1", str(port)]
    with answering(preloaded.Popen, command, root, port, timeout, env) as (url, server):
        if started is not None:
            started.append(server)
        yield url


@contextlib.contextmanager
def answering(popen, command: list, root: Path, port: int, timeout: float, env: dict | None):
    """`popen(command)` in a session of its own, its output in `root/server.log`; yields (its URL on
    127.0.0.1:`port`, the process) once it answers, stops it on exit."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    with log.open("wb") as out:
        server = popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, log, timeout)
        yield url, server
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
