"""What `make server` and `make ui` check before serving, each failure one line naming the fix: the backend
store (a database MLflow can open), the artifacts destination, the port; and which experiments a SQLite store
holds, read without opening it for writing.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import socket
import sqlite3
from urllib.parse import urlparse

from lottery.errors import UserError
from lottery.tracking import database
from lottery.tracking.database import DatabaseState
from lottery.tracking.uris import (
    DATABASES,
    DEFAULT_PORT,
    DEFAULT_TRACKING_URI,
    local_path,
    redacted,
    refuse_file_store,
    sqlite_file,
)


def require(module: str, extra: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(
            f"{purpose} needs {module}, which is not installed: {database.install_command(extra)}"
        )


def check_backend(uri: str, setting: str = "make server BACKEND_STORE_URI") -> DatabaseState:
    """The state of the backend store `uri`, which `setting` chooses; UserError, naming the fix, unless
    MLflow can open it: a database URL whose driver is installed and whose database answers. Creates a
    SQLite file's folder."""
    dialect = urlparse(uri).scheme.partition("+")[0]
    refuse_file_store(
        uri, "backend store", "a database URL (`mlflow migrate-filestore` converts an old store)"
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
    folder = local_path(destination)
    if folder is not None:
        folder = folder.expanduser().resolve()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"cannot create the artifacts folder {folder} ({error.strerror}); "
                "choose a writable one: make server ARTIFACTS_DESTINATION=…"
            ) from None
        return str(folder)
    if urlparse(destination).scheme == "s3":
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
