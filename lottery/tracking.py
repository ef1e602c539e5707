"""The MLflow glue: which store, reaching it, experiments with explicit artifact locations, and the tag names.

The default store is `sqlite:///mlruns/mlflow.db` with artifacts in `mlruns/artifacts/<experiment>`;
`MLFLOW_TRACKING_URI` overrides it. With an `http(s)://` server the server places artifacts (proxied).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from lottery.errors import UserError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
ARTIFACTS_DIRNAME = "artifacts"

# The tags of the tracking contract (README, "Tracking contract").
TAG_ROLE = "lottery.role"
TAG_DATASET = "lottery.dataset"
TAG_TRIAL = "lottery.trial"
TAG_INIT = "lottery.init"
TAG_WINNING = "lottery.winning"
TAG_VERDICT = "lottery.verdict"
TAG_CONFIG = "lottery.config"
TAG_CATEGORY = "lottery.category"
ROLE_TRIAL = "trial"
ROLE_ANALYSIS = "analysis"
ROLE_CONDITION = "condition"
ROLE_PATTERNS = "patterns"

# Opens our experiments in the MLflow UI's model-training view (runs, metrics), not the GenAI one.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# The artifacts of a trial run (README, "Tracking contract"): .npz files, one array per layer.
INIT_ARTIFACT = "ticket/init.npz"
WINNING_MASK_ARTIFACT = "ticket/winning_mask.npz"
RANDOM_MASK_ARTIFACT = "ticket/random_mask.npz"


def round_mask_artifact(round_index: int) -> str:
    """The mask trained in round `round_index` (≥ 1)."""
    return f"rounds/{round_index}/mask.npz"


# Fail within seconds, not after minutes of retries, when a tracking server is unreachable.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def resolve_tracking_uri(uri: str | None = None) -> str:
    """`uri` if given, else `MLFLOW_TRACKING_URI`, else the local SQLite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_remote(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https", "databricks")


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///…` URI (query string dropped); None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def local_artifact_root(uri: str) -> Path | None:
    """Where a local store keeps artifacts: `artifacts/` beside the SQLite file; None for a server."""
    db = sqlite_file(uri)
    if db is not None:
        return (db.parent / ARTIFACTS_DIRNAME).resolve()
    if urlparse(uri).scheme in ("", "file"):
        raise UserError(
            f"tracking URI {uri!r} is a file store, which MLflow >= 3.17 refuses: "
            f"use {DEFAULT_TRACKING_URI} or an http(s):// server"
        )
    return None


def connect(uri: str | None = None, *, create: bool = True):
    """An `MlflowClient` for the store, checked to answer; UserError (one line) if it does not.

    `create=False` (readers such as the analysis) refuses a SQLite file that does not exist yet instead of
    creating an empty store: a mistyped path is named, not silently reported empty.
    """
    from mlflow import MlflowClient

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
    try:
        with _schema_lock(uri):  # opening a SQLite store creates or migrates its tables
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
    except Exception as error:  # MlflowException, OSError, requests' connection errors: all mean unreachable
        raise UserError(
            f"cannot reach the MLflow tracking store {uri} ({first_line(error)}); start the tracking server "
            "or set MLFLOW_TRACKING_URI to a reachable store"
        ) from None
    return client


def store_lost(client, error: BaseException) -> UserError | None:
    """If the store stopped answering, the one-line error to end with (`error` is what a call to it raised);
    None if it still answers, so that `error` is something else (a bug, a bad artifact) to report as such."""
    try:
        client.search_experiments(max_results=1)
    except Exception:
        return UserError(
            f"lost the MLflow tracking store {client.tracking_uri} ({first_line(error)}); restart it (or "
            "check the disk it writes to), then re-run the same command: finished trials are skipped, the "
            "others resume from their last completed round"
        )
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


def first_line(error: BaseException) -> str:
    """The first line of an error's message (at most 200 characters), for one-line reports."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def download_artifact(client, run_id: str, artifact: str, directory: str | Path, source: str) -> Path:
    """`artifact` of run `run_id`, downloaded into `directory`; UserError naming `source` if unavailable."""
    try:
        return Path(client.download_artifacts(run_id, artifact, dst_path=str(directory)))
    except Exception as error:  # MlflowException, OSError, HTTP errors: all mean the artifact is unavailable
        raise UserError(
            f"{source}: cannot download {artifact} ({first_line(error)}); re-run the trial that produced it"
        ) from None


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
