"""Serve one tracking store to a team or a cluster: `python -m experiments.server` (what `make server` runs).

Checks what a user can get wrong (a busy port, a missing database driver, a file store), then replaces
itself with `mlflow server`, which proxies artifacts: experiments created through it get the artifact root
`mlflow-artifacts:/…`, never a local folder of whoever logged first.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import itertools
import os
import socket
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from lottery.errors import ArgumentParser, UserError, exit_on_user_error
from lottery.tracking.uris import (
    DATABASES,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TRACKING_URI,
    WILDCARD_HOSTS,
    is_loopback,
    sqlite_file,
)

DEFAULT_ARTIFACTS_DESTINATION = "./mlruns/artifacts"
# MLflow's server-side jobs run GenAI features (scorers, trace rollups) we do not use: a job runner and seven
# huey consumers, ~1.8 GB. Off unless the user sets the variable.
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"

# MLflow (mlflow.server.security_utils) compares a Host or origin pattern without "*" for equality and
# fnmatches the others, where "*" matches dots too: its default "10.*" admits 10.evil.example, a name an
# attacker can point at this server (DNS rebinding). `--allowed-hosts` replaces those defaults, so we always
# pass our own list, which spells a private IPv4 address out as 1 to 3 digits an octet; "[.]" is a dot both
# to fnmatch and to Flask-CORS, which reads an origin with "[" or "*" as a regular expression.
_OCTETS = ("[0-9]", "[0-9][0-9]", "[0-9][0-9][0-9]")
_PRIVATE_IPV4 = tuple(
    "[.]".join((prefix, *octets))
    for prefix, free in (
        ("10", 3),
        ("172[.]1[6-9]", 2),
        ("172[.]2[0-9]", 2),
        ("172[.]3[01]", 2),
        ("192[.]168", 2),
    )
    for octets in itertools.product(_OCTETS, repeat=free)
)
# A pattern needs a "*" to be fnmatched at all. "*-!" is an empty range, which fnmatch drops: "[.*-!]"
# matches a dot only. Flask-CORS would refuse that range, so an origin's "*" goes into "[h*]ttp", which
# matches "*ttp" too: no origin.
PRIVATE_IPV4_HOSTS = tuple(address.replace("[.]", "[.*-!]", 1) for address in _PRIVATE_IPV4)
# fc00::/7 as a URL brackets it; a host that begins with "[" is an IPv6 literal, never a DNS name.
PRIVATE_IPV6_HOST = "[[]f[cdCD][0-9a-fA-F][0-9a-fA-F]:*]"
LOCAL_HOSTS = (
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    "[::1]",
    "localhost:*",
    "127.0.0.1:*",
    "0.0.0.0:*",
    "[[]::1]:*",  # fnmatch: "[[]" is a literal "["
)
# `mlflow server` reads these options from its own variables too; a variable the user set wins.
_OPTION_VARIABLES = {
    "--allowed-hosts": "MLFLOW_SERVER_ALLOWED_HOSTS",
    "--cors-allowed-origins": "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
}


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
        help="runs, params and metrics: sqlite:///… or a database URL (postgresql://user:password@host/db)",
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


def checked(args: argparse.Namespace) -> argparse.Namespace:
    """`args`, their --port and --workers checked."""
    if not 1 <= args.port <= 65535:
        raise UserError(f"PORT must lie in 1..65535, got {args.port}")
    if args.workers < 1:
        raise UserError(f"WORKERS must be >= 1, got {args.workers}")
    return args


def redacted(uri: str) -> str:
    """`uri` without its password, for messages."""
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()


def pip_install(extra: str) -> str:
    """The command that installs the project's optional `extra` into the running environment."""
    pip = Path(sys.executable).parent / "pip"
    relative = os.path.relpath(pip)
    return f"{pip if relative.startswith('..') else relative} install -e '.[{extra}]'"


def require(module: str, extra: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{purpose} needs {module}, which is not installed: {pip_install(extra)}")


def check_backend(uri: str, setting: str = "make server BACKEND_STORE_URI") -> None:
    """UserError unless MLflow can open the backend store `uri`, which `setting` chooses; creates a SQLite
    file's folder."""
    scheme = urlparse(uri).scheme
    database, _, driver = scheme.partition("+")
    if scheme in ("", "file"):
        raise UserError(
            f"backend store {uri!r} is a file store, which MLflow >= 3.17 refuses: "
            f"use {DEFAULT_TRACKING_URI} or a database URL (`mlflow migrate-filestore` converts an old store)"
        )
    if database == "postgres":
        raise UserError(
            f"backend store {redacted(uri)!r}: SQLAlchemy spells the scheme postgresql://, not postgres://"
        )
    if database not in DATABASES:
        raise UserError(
            f"backend store {redacted(uri)!r} is not a database URL ({', '.join(DATABASES)}): "
            f"e.g. {setting}={DEFAULT_TRACKING_URI}"
        )
    if database == "postgresql" and driver in ("", "psycopg2"):
        require("psycopg2", "postgres", "a postgresql:// backend store")
    db = sqlite_file(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"cannot create {db.parent} for the backend store ({error.strerror}); "
                f"choose a writable place: {setting}=sqlite:///…"
            ) from None


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


def machine_names() -> list[str]:
    """This machine's host name and fully qualified name, as other machines may call it."""
    names = {socket.gethostname(), socket.getfqdn()}
    return sorted(name for name in names if name and not is_loopback(name))


def security_options(host: str, port: int, allowed_hosts: str) -> list[str]:
    """`mlflow server` options accepting requests addressed to localhost, a private IP address,
    `allowed_hosts` and, unless HOST is loopback, this machine's names, in place of MLflow's defaults;
    an option whose MLflow variable the user set is left out, so that the variable holds.

    The Host header check refuses any other name (403), and the CORS check refuses state-changing requests
    from any origin but localhost unless listed: the UI's own POSTs (listing runs) among them.
    """
    names = [name.strip() for name in allowed_hosts.split(",") if name.strip()]
    if not is_loopback(host):
        names += [*([] if host in WILDCARD_HOSTS else [host]), *machine_names()]
    names = list(dict.fromkeys(name for name in names if not is_loopback(name)))
    addresses = [*PRIVATE_IPV4_HOSTS, PRIVATE_IPV6_HOST, *names]
    hosts = ["*"] if "*" in names else [*LOCAL_HOSTS, *addresses, *(f"{address}:*" for address in addresses)]
    origins = [
        *(f"[h*]ttp://{address}:{port}" for address in _PRIVATE_IPV4),
        *(f"http://{name}:{port}" for name in names if name != "*"),
    ]
    chosen = {"--allowed-hosts": hosts, "--cors-allowed-origins": origins}
    return [
        arg
        for option, values in chosen.items()
        if not os.environ.get(_OPTION_VARIABLES[option])
        for arg in (option, ",".join(values))
    ]


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


def tracking_url(host: str, port: int) -> str:
    name = socket.gethostname() if host in WILDCARD_HOSTS else host
    return f"http://{f'[{name}]' if ':' in name else name}:{port}"


def announcement(host: str, port: int) -> str:
    url = tracking_url(host, port)
    if host in WILDCARD_HOSTS:
        where = f"on every interface, port {port}; point workers at it by this machine's name"
    elif is_loopback(host):
        where = f"at {url} (this machine only; HOST=0.0.0.0 serves others); point workers at it"
    else:
        where = f"at {url}; point workers at it"
    return f"tracking server {where}: export MLFLOW_TRACKING_URI={url}"


def mlflow_server(
    args: argparse.Namespace, artifacts_destination: str, default_artifact_root: str | None = None
) -> list[str]:
    """The `mlflow server` command line, its executable next to this interpreter's: the store
    `args.backend_store_uri`, served on `args.host`:`args.port` by `args.workers` processes, with proxied
    artifacts kept in `artifacts_destination`; new experiments (MLflow's Default among them) put theirs at
    `default_artifact_root`, else at `mlflow-artifacts:/…` (that destination, through the server)."""
    executable = Path(sys.executable).parent / "mlflow"
    if not os.access(executable, os.X_OK):
        raise UserError(f"no mlflow executable next to {sys.executable}: make install")
    return [
        str(executable),
        "server",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--backend-store-uri",
        args.backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
        *(["--default-artifact-root", default_artifact_root] if default_artifact_root else []),
        *security_options(args.host, args.port, args.allowed_hosts),
    ]


def exec_mlflow(command: list[str]) -> None:
    """Replace this process with `command` (`mlflow server …`), MLflow's server-side jobs off."""
    os.environ.setdefault(JOB_EXECUTION, "false")
    os.execv(command[0], command)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    check_backend(args.backend_store_uri)
    destination = check_artifacts(args.artifacts_destination)
    command = mlflow_server(args, destination)
    check_port(args.host, args.port)
    if not is_loopback(args.host) and (local := local_artifact_experiments(args.backend_store_uri)):
        print(
            f"note: experiments {', '.join(local)} keep their artifacts in local folders (created without a "
            "server): workers on other machines would write them to their own disks; start a cluster on a "
            "fresh BACKEND_STORE_URI",
            file=sys.stderr,
            flush=True,
        )
    print(announcement(args.host, args.port), flush=True)
    exec_mlflow(command)


if __name__ == "__main__":
    main()
