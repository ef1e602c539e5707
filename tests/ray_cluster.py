"""A local Ray cluster for tests, started as one starts a cluster's head (`ray start --head`), and the Ray
workers running a task, found by the session of the process that started them."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tracking_server import free_port

# A few seconds on an idle 2-core machine; much longer while other tests load it.
STARTUP_TIMEOUT = 120.0
STARTED = "Ray runtime started"


@dataclass(frozen=True)
class RayCluster:
    """A cluster whose processes all belong to the session of `pid` (`ray start --block`); drivers reach it
    with the variables of `env()`."""

    address: str
    pid: int
    log: Path
    token: str  # Ray's token authentication, with a token of this cluster's own

    @classmethod
    @contextlib.contextmanager
    def started(cls, cpus: int = 2, timeout: float = STARTUP_TIMEOUT) -> Iterator[RayCluster]:
        """Start the head of a one-node cluster with `cpus` CPUs on free ports, in a temporary folder of its
        own (clusters of other test runs on this machine are left alone); stop it on exit."""
        # Short: Ray's Unix sockets live under it, and their paths are limited to 107 bytes.
        root = Path(tempfile.mkdtemp(prefix="ray-"))
        port = free_port()
        command = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            "--disable-usage-stats",
            f"--temp-dir={root / 'tmp'}",
        ]
        token = secrets.token_hex(16)
        env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        env.pop("RAY_ADDRESS", None)
        log = root / "ray-start.log"
        with log.open("wb") as out:
            # Its own session: every process of the cluster, workers included, can be found and stopped.
            head = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        cluster = cls(f"127.0.0.1:{port}", head.pid, log, token)
        try:
            cluster._wait_until_started(head, timeout)
            yield cluster
        finally:
            cluster._stop(head)
            shutil.rmtree(root, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """The environment variables that point a driver at this cluster."""
        return {"RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def workers(self, title: bytes = b"ray::train_trial") -> list[int]:
        """The pids of this cluster's workers running a task titled `title`."""
        return task_workers(self.pid, title)

    def jobs(self) -> set[str]:
        """The ids of the jobs (drivers) that have connected to this cluster: each leaves its log here."""
        logs = self.log.parent.glob("tmp/session_*/logs/python-core-driver-*.log")
        return {path.name.removeprefix("python-core-driver-").split("_")[0] for path in logs}

    def _wait_until_started(self, head: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while STARTED not in self.log.read_text(errors="replace"):
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited with {head.returncode}:\n{self._tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Ray cluster after {timeout:.0f} s:\n{self._tail()}")
            time.sleep(0.2)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def _stop(self, head: subprocess.Popen) -> None:
        """SIGKILL to every process of the cluster's session (workers have process groups of their own): it
        holds nothing to save, and on SIGTERM Ray would drain the node for up to 30 s."""
        for pid in [self.pid, *session_members(self.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        head.wait(timeout=30)


def _stat(pid: int) -> list[str]:
    # /proc/<pid>/stat: "pid (name) state ppid pgrp session …"; the name may hold spaces, so split after ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def session_members(session: int) -> list[int]:
    """The pids of the live processes of session `session`, its leader excepted."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int(entry.name) != session
                and int(_stat(int(entry.name))[3]) == session
            ):
                pids.append(int(entry.name))
        except (OSError, IndexError):  # the process ended while we looked
            continue
    return pids


def task_workers(session: int, title: bytes = b"ray::train_trial") -> list[int]:
    """The pids of the Ray workers started in session `session` (a driver started with
    `start_new_session=True` and its local cluster, or a `RayCluster`) running a task titled `title`."""
    pids = []
    for pid in session_members(session):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title):
                pids.append(pid)
        except OSError:
            continue
    return pids
