"""Serve one tracking store to a team or a cluster: `python -m experiments.server` (what `make server` runs).

Checks what a user can get wrong (a busy port, a file store, a missing database driver, a database that does
not answer), then runs `mlflow server` quietly (`experiments.serving`), which proxies artifacts: experiments
created through it get the artifact root `mlflow-artifacts:/…`, never a local folder of whoever logged
first. Serving SQLite to other machines, or a pool that may need more connections than PostgreSQL allows,
is warned about in a line each.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import socket
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from experiments import serving
from experiments.security import security_settings
from lottery.errors import ArgumentParser, UserError, exit_on_user_error
from lottery.tracking import database
from lottery.tracking.database import DatabaseState
from lottery.tracking.uris import (
    DATABASES,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TRACKING_URI,
    WILDCARD_HOSTS,
    is_loopback,
    redacted,
    sqlite_file,
    ui_url,
    url_host,
)

DEFAULT_ARTIFACTS_DESTINATION = "./mlruns/artifacts"
# From the load benchmark (docs/benchmarks.md): what SQLite does under the writes of a cluster.
SQLITE_SHARED = (
    "warning: serving SQLite to other machines: it takes one writer at a time, and when 64 trials started "
    "at once some of their calls waited past the drivers' 10 s timeout (docs/benchmarks.md); for a cluster "
    "serve PostgreSQL: `make postgres`, then BACKEND_STORE_URI=… as it prints"
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m experiments.server",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_listen_options(p, workers=2)
    p.add_argument(
        "--backend-store-uri",
        default=DEFAULT_TRACKING_URI,
        help="runs, params and metrics: sqlite:///… or a database URL (postgresql://user@host/db, its "
        "password in PGPASSWORD or ~/.pgpass)",
    )
    p.add_argument(
        "--artifacts-destination",
        default=DEFAULT_ARTIFACTS_DESTINATION,
        help="where the server keeps artifacts: a folder or s3://bucket/path",
    )
    return checked(p.parse_args(argv))


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


def require(module: str, extra: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(
            f"{purpose} needs {module}, which is not installed: {database.install_command(extra)}"
        )


def check_backend(uri: str, setting: str = "make server BACKEND_STORE_URI") -> DatabaseState:
    """The state of the backend store `uri`, which `setting` chooses; UserError, naming the fix, unless
    MLflow can open it: a database URL whose driver is installed and whose database answers. Creates a
    SQLite file's folder."""
    scheme = urlparse(uri).scheme
    dialect = scheme.partition("+")[0]
    if scheme in ("", "file"):
        raise UserError(
            f"backend store {uri!r} is a file store, which MLflow >= 3.17 refuses: "
            f"use {DEFAULT_TRACKING_URI} or a database URL (`mlflow migrate-filestore` converts an old store)"
        )
    if dialect == "postgres":
        raise UserError(
            f"backend store {redacted(uri)!r}: SQLAlchemy spells the scheme postgresql://, not postgres://"
        )
    if dialect not in DATABASES:
        raise UserError(
            f"backend store {redacted(uri)!r} is not a database URL ({', '.join(DATABASES)}): "
            f"e.g. {setting}={DEFAULT_TRACKING_URI}"
        )
    database.check_driver(uri, setting)
    db = sqlite_file(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"cannot create {db.parent} for the backend store ({error.strerror}); "
                f"choose a writable place: {setting}=sqlite:///…"
            ) from None
    return database.inspect(uri, setting)


def check_artifacts(destination: str) -> str:
    """What to give MLflow: a local folder, created and made absolute; a URI, checked for its client."""
    parsed = urlparse(destination)
    if parsed.scheme in ("", "file"):
        folder = Path(url2pathname(parsed.path) if parsed.scheme else destination).expanduser().resolve()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"cannot create the artifacts folder {folder} ({error.strerror}); "
                "choose a writable one: make server ARTIFACTS_DESTINATION=…"
            ) from None
        return str(folder)
    if parsed.scheme == "s3":
        require("boto3", "s3", "an s3:// artifacts destination")
    return destination


def bind_error(host: str, port: int) -> OSError | None:
    """Why listening on `host`:`port` would fail now, or None if it would not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        return error
    with socket.socket(family, kind, proto) as s:
        # As uvicorn does: the TIME_WAIT connections of a server just stopped are no conflict.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as error:
            return error
    return None


def check_port(host: str, port: int, target: str = "server") -> None:
    """UserError, naming `make target`, unless this machine can listen on `host`:`port` now."""
    error = bind_error(host, port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + 100, 65536)) if not bind_error(host, p)), port + 1)
        raise UserError(
            f"port {port} on {host} is in use (another server?); stop it or choose another: "
            f"make {target} PORT={free}"
        )
    if error.errno == errno.EACCES:
        raise UserError(
            f"port {port} on {host} needs root; choose one above 1023: make {target} PORT={DEFAULT_PORT}"
        )
    raise UserError(
        f"cannot listen on {host}:{port} ({error.strerror or error}); HOST must be an address of this "
        "machine: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
    )


def store_experiments(uri: str) -> list[tuple[str, str, str]]:
    """The active experiments of a SQLite store but MLflow's Default (id, name, artifact location), read
    without opening it for writing or migrating it; none for another store or one not created yet."""
    db = sqlite_file(uri)
    if db is None or not db.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                "SELECT experiment_id, name, artifact_location FROM experiments "
                "WHERE experiment_id != 0 AND lifecycle_stage = 'active' ORDER BY experiment_id"
            ).fetchall()
    except sqlite3.Error:  # not an MLflow store yet: the server creates its tables
        return []
    return [(str(experiment_id), name, location or "") for experiment_id, name, location in rows]


def local_artifact_experiments(uri: str) -> list[str]:
    """Experiments of a SQLite store whose artifacts go to a local folder of the logging machine
    (created without a server), so workers on other machines would write them to their own disks."""
    return [name for _, name, location in store_experiments(uri) if urlparse(location).scheme in ("", "file")]


def notes(args: argparse.Namespace, state: DatabaseState) -> list[str]:
    """What the user should know before the server starts: local artifact folders or SQLite served to
    other machines, a pool that may take more connections than PostgreSQL has left."""
    said = []
    uri = args.backend_store_uri
    if not is_loopback(args.host) and (local := local_artifact_experiments(uri)):
        said.append(
            f"note: experiments {', '.join(local)} keep their artifacts in local folders (created without a "
            "server): workers on other machines would write them to their own disks; start a cluster on a "
            "fresh BACKEND_STORE_URI"
        )
    if not is_loopback(args.host) and sqlite_file(uri) is not None:
        said.append(SQLITE_SHARED)
    if state.connection_limit is not None:
        wanted, free = database.pool_connections(args.workers), state.connection_limit - state.connections
        if wanted > free:
            said.append(
                f"warning: {args.workers} server workers may open {wanted} database connections at peak, and "
                f"{redacted(uri)} has {free} left (max_connections): lower WORKERS or "
                "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE / _MAX_OVERFLOW, or raise max_connections"
            )
    return said


def tracking_url(host: str, port: int) -> str:
    name = socket.gethostname() if host in WILDCARD_HOSTS else host
    return f"http://{url_host(name)}:{port}"


def announcement(host: str, port: int) -> str:
    url = tracking_url(host, port)
    if host in WILDCARD_HOSTS:
        where = f"on every interface, port {port}; point workers at it by this machine's name"
    elif is_loopback(host):
        where = f"at {url} (this machine only; HOST=0.0.0.0 serves others); point workers at it"
    else:
        where = f"at {url}; point workers at it"
    return f"tracking server {where}: export MLFLOW_TRACKING_URI={url}"


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
    command = serving.mlflow_command(args.host, args.port, args.workers)
    env = serving.environment(chosen, args.verbose)
    serving.serve(command, env, ui_url(args.host, args.port), said, args.verbose)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    state = check_backend(args.backend_store_uri)
    destination = check_artifacts(args.artifacts_destination)
    check_port(args.host, args.port)
    for line in notes(args, state):
        print(line, file=sys.stderr, flush=True)
    run(args, settings(args, destination), serving.stand_out(announcement(args.host, args.port)))


if __name__ == "__main__":
    main()
