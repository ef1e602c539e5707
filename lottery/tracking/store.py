"""Reaching the MLflow tracking store: a checked client, a store that stopped answering, experiments with
explicit artifact locations, and artifact downloads that fail in one line.

The default store is `sqlite:///mlruns/mlflow.db` with artifacts in `mlruns/artifacts/<experiment>`;
`MLFLOW_TRACKING_URI` overrides it. With an `http(s)://` server the server places artifacts (proxied).
A database behind the store (PostgreSQL, here or behind a server) that is down, refuses the credentials,
has no connection left or holds an older MLflow schema is named in the one line, with its fix
(`lottery.tracking.database`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from lottery.errors import UserError, first_line
from lottery.tracking import database
from lottery.tracking.contract import EXPERIMENT_KIND, MODEL_TRAINING
from lottery.tracking.uris import (
    DEFAULT_TRACKING_URI,
    is_database,
    is_remote,
    local_artifact_root,
    redacted,
    resolve_tracking_uri,
    sqlite_file,
)

RERUN = (
    "then re-run the same command: finished trials are skipped, the others resume from their last completed "
    "round"
)

# Fail within seconds, not after minutes of retries, when a tracking server is unreachable.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def connect(uri: str | None = None, *, create: bool = True):
    """An `MlflowClient` for the store (a `StopSafeClient`), checked to answer; UserError (one line) if it
    does not. A database server (PostgreSQL) is checked first for its driver and an answer within seconds.

    `create=False` (readers such as the analysis) refuses a SQLite file that does not exist yet instead of
    creating an empty store: a mistyped path is named, not silently reported empty.
    """
    from lottery.tracking.client import StopSafeClient

    uri = resolve_tracking_uri(uri)
    db = sqlite_file(uri)
    if not create and db is not None and not db.is_file():
        raise UserError(
            f"no tracking store at {uri} ({db.absolute()} does not exist); check MLFLOW_TRACKING_URI, "
            f"or train first (`make train`) to create {DEFAULT_TRACKING_URI}"
        )
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "🏃 View run …" per run
    for chatty in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables…"
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if is_remote(uri):
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
    else:
        local_artifact_root(uri)  # raises for a file store, which MLflow >= 3.17 refuses
    if is_database(uri) and db is None:
        database.check_driver(uri, "MLFLOW_TRACKING_URI")
        database.inspect(uri, "MLFLOW_TRACKING_URI")
    try:
        with _schema_lock(uri):  # opening a SQLite store creates or migrates its tables
            client = StopSafeClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
    except store_errors() as error:
        words = database_words(uri, error)
        if words is not None and database.problem(words) is not None:
            raise UserError(database.failed(f"the MLflow tracking store {redacted(uri)}", words)) from None
        raise UserError(
            f"cannot reach the MLflow tracking store {redacted(uri)} ({first_line(error)}); start the "
            "tracking server or set MLFLOW_TRACKING_URI to a reachable store"
        ) from None
    return client


def store_errors() -> tuple[type[BaseException], ...]:
    """What a tracking store raises when it fails, refuses or cannot be reached — MLflow's errors, OS and
    network errors (requests' are OSErrors), database errors — as opposed to a bug of ours, which must
    keep its traceback."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return (MlflowException, OSError, SQLAlchemyError)


def store_lost(client, error: BaseException) -> UserError | None:
    """If the store failed, the one-line error to end with (`error` is what a call to it raised): it stopped
    answering, or its database failed in a way `lottery.tracking.database` knows (even if it answers again:
    no connection left comes and goes), or a server answered 503, MLflow's word for a database it could
    not use. None if it answers and `error` is something else (a bug, a bad artifact) to report as such."""
    uri = redacted(client.tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as answer:
        words = database_words(client.tracking_uri, answer)
        if words is not None and database.problem(words) is not None:
            return UserError(f"{database.failed(f'lost the MLflow tracking store {uri}', words)}; {RERUN}")
        return UserError(
            f"lost the MLflow tracking store {uri} ({first_line(error)}); restart it (or check the disk it "
            f"writes to), {RERUN}"
        )
    words = None if is_remote(client.tracking_uri) else database_words(client.tracking_uri, error)
    if words is not None and database.problem(words) is not None:
        return UserError(f"{database.failed(f'the MLflow tracking store {uri}', words)}; {RERUN}")
    if is_remote(client.tracking_uri) and re.search(r"\b503\b", str(error)):
        return UserError(
            f"the MLflow tracking server {uri} could not use its database (HTTP 503): it was down or had no "
            "connection left, as the server's output says; restart it, or lower the server's WORKERS or "
            f"MLFLOW_SQLALCHEMYSTORE_POOL_SIZE / _MAX_OVERFLOW, or raise max_connections; {RERUN}"
        )
    return None


def raise_if_lost(client, error: BaseException) -> None:
    """Raise `store_lost`'s one-line error (`error` being what stopped a call or a trial) if the store
    failed; return if it answers, leaving `error` to be reported as what it is."""
    lost = store_lost(client, error)
    if lost is not None:
        raise lost from None


def database_words(uri: str, error: BaseException) -> str | None:
    """A database's own words on a failure of the store `uri`: what its tracking server answers now, or
    `error` itself when it is a database's error (SQLAlchemy's, or MLflow's quoting one); None otherwise (an
    unreachable server, a file error), which no database pattern must be read into."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    if is_remote(uri):
        return server_says(uri)
    return str(error) if is_database(uri) and isinstance(error, MlflowException | SQLAlchemyError) else None


def server_says(uri: str) -> str | None:
    """What a tracking server at `uri` answers a search with when it fails (MLflow's JSON `message`, which
    quotes its database's error); None if it answers, is no server, or cannot be reached."""
    if not is_remote(uri):
        return None
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1"
    try:
        with urllib.request.urlopen(url, timeout=5):
            return None
    except urllib.error.HTTPError as error:
        with contextlib.suppress(ValueError, OSError):
            answer = json.loads(error.read())
            return str(answer.get("message") or "") or None if isinstance(answer, dict) else None
    except (OSError, ValueError):
        pass
    return None


def now_ms() -> int:
    """Now, in the epoch milliseconds MLflow timestamps use."""
    return int(time.time() * 1000)


@contextlib.contextmanager
def _schema_lock(uri: str) -> Iterator[None]:
    """Exclusive while held, for processes opening the same SQLite store: MLflow creates and migrates its
    tables without a lock of its own, so workers opening a fresh store at once would collide."""
    db = sqlite_file(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class StoredRun(Protocol):
    """A run whose artifacts can be read: its id, its artifact root (MLflow's `run.info.artifact_uri`) and
    the words that name it in errors."""

    run_id: str
    artifact_uri: str

    @property
    def source(self) -> str: ...


def run_source(name: str, run_id: str) -> str:
    """How errors name a run: `run digits/trial-03 (3f2a…)`."""
    return f"run {name} ({run_id})"


def download_artifact(client, run: StoredRun, artifact: str, directory: str | Path) -> Path:
    """`artifact` of `run`, downloaded into `directory` straight from the run's artifact root; UserError
    naming the run if unavailable. (A `runs:/` URI would first look the run up, twice, on every file.)"""
    from mlflow.artifacts import download_artifacts

    try:
        return Path(
            download_artifacts(
                artifact_uri=f"{run.artifact_uri.rstrip('/')}/{artifact}",
                dst_path=str(directory),
                tracking_uri=client.tracking_uri,
            )
        )
    except store_errors() as error:
        raise UserError(
            f"{run.source}: cannot download {artifact} ({first_line(error)}); "
            "re-run the trial that produced it"
        ) from None


def list_artifacts(client, run: StoredRun, folder: str) -> list:
    """The artifacts (MLflow `FileInfo`s) in `folder` of `run`, listed straight from its artifact root (a
    listing by run id would first look the run up)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(run.artifact_uri, tracking_uri=client.tracking_uri).list_artifacts(folder)


def experiment_id(client, name: str) -> str:
    """The id of experiment `name`, created on first use (explicit artifact location on local stores)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    root = local_artifact_root(client.tracking_uri)
    location = (root / name.replace("/", "_")).as_uri() if root is not None else None
    try:
        return client.create_experiment(
            name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING}
        )
    except Exception:
        experiment = client.get_experiment_by_name(name)  # another process created it meanwhile
        if experiment is None:
            raise
        return experiment.experiment_id
