"""Which tracking store a URI names: the default local SQLite store, `MLFLOW_TRACKING_URI`, servers, the
SQLite file and the artifact folder beside it, and whether a host is this machine's loopback."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlparse

from lottery.errors import UserError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
ARTIFACTS_DIRNAME = "artifacts"


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
