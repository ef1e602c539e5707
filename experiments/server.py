"""Serve one tracking store to a team or a cluster: `python -m experiments.server` (what `make server` runs).

Checks what a user can get wrong (a busy port, a file store, a missing database driver, a database that does
not answer: `experiments.preflight`), then runs `mlflow server` quietly (`experiments.serving`), which proxies
artifacts: experiments created through it get the artifact root `mlflow-artifacts:/…`, never a local folder
of whoever logged first. Serving SQLite to other machines, or a pool that may need more connections than
PostgreSQL allows, is warned about in a line each.
"""

from __future__ import annotations

import argparse
import socket
import sys

from experiments import preflight, serving
from lottery.errors import ArgumentParser, exit_on_user_error
from lottery.tracking import database
from lottery.tracking.database import DatabaseState
from lottery.tracking.uris import (
    DEFAULT_TRACKING_URI,
    WILDCARD_HOSTS,
    is_loopback,
    local_path,
    redacted,
    sqlite_file,
    url_host,
)

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
    serving.add_listen_options(p, workers=2)
    p.add_argument(
        "--backend-store-uri",
        default=DEFAULT_TRACKING_URI,
        help="runs, params and metrics: sqlite:///… or a database URL (postgresql://user@host/db, its "
        "password in PGPASSWORD or ~/.pgpass)",
    )
    p.add_argument(
        "--artifacts-destination",
        default=serving.DEFAULT_ARTIFACTS_DESTINATION,
        help="where the server keeps artifacts: a folder or s3://bucket/path",
    )
    return serving.checked(p.parse_args(argv))


def local_artifact_experiments(uri: str) -> list[str]:
    """Experiments of a SQLite store whose artifacts go to a local folder of the logging machine
    (created without a server), so workers on other machines would write them to their own disks."""
    return [
        name for _, name, location in preflight.store_experiments(uri) if local_path(location) is not None
    ]


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


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    state = preflight.check_backend(args.backend_store_uri)
    destination = preflight.check_artifacts(args.artifacts_destination)
    preflight.check_port(args.host, args.port)
    for line in notes(args, state):
        print(line, file=sys.stderr, flush=True)
    said = serving.stand_out(announcement(args.host, args.port))
    serving.run(args, serving.settings(args, destination), said)


if __name__ == "__main__":
    main()
