"""Running `mlflow server` for `make server` and `make ui`: the options both take (`add_listen_options`), the
variables that configure it (`settings`), and the server itself, quietly (`run`).

`mlflow server` runs as a child of the command, configured through its environment variables, so that its
command line stays short in `ps` and a database password never appears there. Unless asked (`--verbose`,
`VERBOSE=1`) it logs no request (uvicorn's access log and start-up notes off), no deprecation warning, and
the start-up notes of MLflow's command (the security settings it was given, the registry store it
derived) are dropped. Its output is held until it answers: the line that matters, where it is, is then
printed last (`stand_out` makes it bold on a terminal), and a server that exits before answering ends the
command in one line, naming the fix when a database error is the cause.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from experiments.security import security_settings
from lottery.errors import UserError
from lottery.tracking import database
from lottery.tracking.uris import DEFAULT_HOST, DEFAULT_PORT, redacted, ui_url

DEFAULT_ARTIFACTS_DESTINATION = "./mlruns/artifacts"

# MLflow's server-side jobs run GenAI features (scorers, trace rollups) we do not use: a job runner and seven
# huey consumers, ~1.8 GB. Off unless the user sets the variable.
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
# What keeps a server quiet; a variable the user set wins.
QUIET = {
    "MLFLOW_UVICORN_OPTS": "--no-access-log --log-level warning",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # Starlette's deprecation warnings are UserWarnings (StarletteDeprecationWarning).
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning,"
    "ignore:starlette.middleware.wsgi is deprecated:UserWarning",
}
# The start-up notes of `mlflow server` (3.17) that repeat what we configured.
CHATTER = ("[MLflow] Security middleware enabled", "Registry store URI not provided")
BOLD, PLAIN = "\033[1m", "\033[0m"
_POLL_SECONDS = 0.25
_KEPT_LINES = 200


def add_listen_options(p: argparse.ArgumentParser, workers: int) -> None:
    """--host, --port, --allowed-hosts and --workers (default `workers`), for `make server` and `make ui`."""
    p.add_argument(
        "--host", default=DEFAULT_HOST, help="interface to listen on; 0.0.0.0 serves other machines"
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    p.add_argument(
        "--allowed-hosts",
        default="",
        help="more names clients reach the server by, comma-separated ('*': any), besides localhost, "
        "private IPs and, unless HOST is loopback, this machine's names",
    )
    p.add_argument("--workers", type=int, default=workers, help="server processes, about 250 MB each")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="log every request and MLflow's start-up notes (VERBOSE=1 with make)",
    )


def checked(args: argparse.Namespace) -> argparse.Namespace:
    """`args`, their --port and --workers checked."""
    if not 1 <= args.port <= 65535:
        raise UserError(f"PORT must lie in 1..65535, got {args.port}")
    if args.workers < 1:
        raise UserError(f"WORKERS must be >= 1, got {args.workers}")
    return args


def settings(args: argparse.Namespace, destination: str, default_artifact_root: str | None = None) -> dict:
    """The variables that configure `mlflow server` for `args`: the store `args.backend_store_uri` (its
    model registry too), artifacts kept in `destination`, new experiments' artifacts (MLflow's Default
    among them) at `default_artifact_root`, else at `mlflow-artifacts:/…` (`destination`, through the
    server), and the requests it accepts."""
    uri = args.backend_store_uri
    chosen = {
        "MLFLOW_BACKEND_STORE_URI": uri,
        "MLFLOW_REGISTRY_STORE_URI": uri,
        "MLFLOW_ARTIFACTS_DESTINATION": destination,
        **security_settings(args.host, args.port, args.allowed_hosts),
    }
    if default_artifact_root:
        chosen["MLFLOW_DEFAULT_ARTIFACT_ROOT"] = default_artifact_root
    return chosen


def run(args: argparse.Namespace, chosen: dict, said: str) -> None:
    """Serve with the variables `chosen`, saying `said` once the server answers."""
    command = mlflow_command(args.host, args.port, args.workers)
    env = environment(chosen, args.verbose)
    serve(command, env, ui_url(args.host, args.port), said, args.verbose)


def mlflow_command(host: str, port: int, workers: int) -> list[str]:
    """`mlflow server` on `host`:`port` with `workers` processes, proxying artifacts; its executable next to
    this interpreter's. The rest of its settings travel in its environment (`environment`)."""
    executable = Path(sys.executable).parent / "mlflow"
    if not os.access(executable, os.X_OK):
        raise UserError(f"no mlflow executable next to {sys.executable}: make install")
    return [
        str(executable),
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--serve-artifacts",
    ]


def environment(settings: dict[str, str], verbose: bool) -> dict[str, str]:
    """This process's environment with `settings` (MLflow's variables), its jobs off and, unless `verbose`,
    kept quiet; a variable the user set wins over the job and quiet defaults."""
    env = {**os.environ, **settings}
    env.setdefault(JOB_EXECUTION, "false")
    if not verbose:
        for key, value in QUIET.items():
            env.setdefault(key, value)
    return env


def stand_out(line: str) -> str:
    """`line` in bold when stdout is a terminal."""
    return f"{BOLD}{line}{PLAIN}" if sys.stdout.isatty() else line


class _Relay:
    """A child's output streams, copied line by line to ours; unless `verbose`, held until `release` (so
    that a failed start reports one line, not a log) and MLflow's start-up chatter dropped."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.held: list[tuple[IO[str], str]] | None = None if verbose else []
        self.lines: list[str] = []  # the last lines, for the report of a failed start
        self._lock = threading.Lock()

    def pump(self, source: IO[str], target: IO[str]) -> threading.Thread:
        thread = threading.Thread(target=self._copy, args=(source, target), daemon=True)
        thread.start()
        return thread

    def _copy(self, source: IO[str], target: IO[str]) -> None:
        for line in source:
            if not self.verbose and line.startswith(CHATTER):
                continue
            with self._lock:
                self.lines = [*self.lines[-_KEPT_LINES + 1 :], line.rstrip("\n")]
                if self.held is not None:
                    self.held.append((target, line))
                    continue
            target.write(line)
            target.flush()

    def release(self) -> None:
        """Print what was held, and from now on every line as it comes."""
        with self._lock:
            held, self.held = self.held or [], None
        for target, line in held:
            target.write(line)
            target.flush()


def answers(url: str) -> bool:
    with (
        contextlib.suppress(OSError),  # refused until uvicorn listens (URLError is an OSError)
        urllib.request.urlopen(f"{url}/health", timeout=2) as response,
    ):
        return response.status == 200
    return False


@contextlib.contextmanager
def _forwarded_stops(child: subprocess.Popen) -> Iterator[None]:
    """SIGTERM and Ctrl-C stop the child cleanly (as SIGTERM: a second SIGINT would make uvicorn skip its
    shutdown, and Ctrl-C on a terminal reaches the child too) and do not interrupt this process."""

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(command: list[str], env: dict[str, str], url: str, announcement: str, verbose: bool) -> None:
    """Run `command` (`mlflow server …`) with `env` until it ends; print `announcement` once it answers at
    `url`. UserError, in one line, if it exits before it answers; SystemExit with its status after."""
    relay = _Relay(verbose)
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _forwarded_stops(child):
        pumps = [relay.pump(child.stdout, sys.stdout), relay.pump(child.stderr, sys.stderr)]
        while not answers(url):
            if child.poll() is not None:
                for pump in pumps:
                    pump.join()
                raise UserError(start_failure(child.returncode, relay.lines, env))
            time.sleep(_POLL_SECONDS)
        relay.release()
        print(announcement, flush=True)
        code = child.wait()
        for pump in pumps:
            pump.join()
    raise SystemExit(code)


def start_failure(code: int, lines: list[str], env: dict[str, str]) -> str:
    """The line that reports a server that exited with `code` before answering, having printed `lines`."""
    store = redacted(env.get("MLFLOW_BACKEND_STORE_URI", ""))
    for line in reversed(lines):
        if database.problem(line) is not None:
            return database.failed(f"mlflow server could not open BACKEND_STORE_URI={store}", line)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
    return f"mlflow server exited with status {code} before answering ({last[:200]}); VERBOSE=1 shows its log"
