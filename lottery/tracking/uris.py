"""Which tracking store a URI names: the default local SQLite store, `MLFLOW_TRACKING_URI`, servers, the
SQLite file and the artifact folder beside it, whether an artifact location is a local folder, whether a host
is this machine's loopback, how a URL spells a host, and where the MLflow UI shows an experiment's runs."""

from __future__ import annotations

import ipaddress
import os
import shlex
from pathlib import Path
from urllib.parse import quote, urlparse
from urllib.request import url2pathname

from lottery.errors import UserError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
ARTIFACTS_DIRNAME = "artifacts"
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # the SQLAlchemy dialects MLflow's store accepts
# Where `make ui` and `make server` listen unless HOST and PORT say otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
WILDCARD_HOSTS = ("0.0.0.0", "::")
# The MLflow UI (3.17) opens an experiment (#/experiments/<id>) on its GenAI overview unless its GenAI /
# Model training switch, remembered per browser, says otherwise; it ignores the experiment's kind tag. A URL
# with this query opens its page in the model-training view (side bar: Runs, Models, Traces).
UI_WORKFLOW = "workflowType=machine_learning"


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


def url_host(host: str) -> str:
    """`host` as a URL spells it: an IPv6 address in brackets (`::1` → `[::1]`), any other host as is."""
    return f"[{host}]" if ":" in host else host


def local_path(location: str) -> Path | None:
    """The local file or folder an artifact location names (`file:///…` on this host, or a plain path); None
    for a remote one (`mlflow-artifacts:/…`, http(s), s3, …)."""
    parsed = urlparse(location)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    return Path(location) if parsed.scheme == "" else None


def is_remote(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https", "databricks")


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///…` URI (query string dropped); None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def check_store_folder(uri: str) -> None:
    """UserError for a SQLite store, other than the default, whose folder does not exist: a mistyped path
    (`sqlite:///mlrun/mlflow.db`) would otherwise start a new, empty store there unnoticed."""
    db = sqlite_file(uri)
    if db is None or uri == DEFAULT_TRACKING_URI or db.parent.is_dir():
        return
    folder = shlex.quote(str(db.parent))
    raise UserError(
        f"the tracking store {uri} would be created in {db.parent}/, which does not exist: check "
        f"MLFLOW_TRACKING_URI for a typo, or create the folder (mkdir -p {folder}) for a new store there"
    )


def local_artifact_root(uri: str) -> Path | None:
    """Where a local store keeps artifacts: `artifacts/` beside the SQLite file; None for a server."""
    db = sqlite_file(uri)
    if db is not None:
        return (db.parent / ARTIFACTS_DIRNAME).resolve()
    refuse_file_store(uri, "tracking URI", "an http(s):// server")
    return None


def refuse_file_store(uri: str, what: str, instead: str) -> None:
    """UserError if `uri` (the `what`) is a file store (a path, `file://`), which MLflow >= 3.17 refuses,
    naming the default store and `instead` as what to use."""
    if urlparse(uri).scheme in ("", "file"):
        raise UserError(
            f"{what} {uri!r} is a file store, which MLflow >= 3.17 refuses: use {DEFAULT_TRACKING_URI} or "
            f"{instead}"
        )


def is_database(uri: str) -> bool:
    """Whether `uri` is a database URL (`sqlite:///…`, `postgresql+psycopg2://…`) MLflow's store accepts."""
    return urlparse(uri).scheme.partition("+")[0] in DATABASES


def ui_url(host: str | None = None, port: int | str | None = None) -> str:
    """The address `make ui` serves on `host`:`port` (default: HOST and PORT, else 127.0.0.1:5000), as a
    browser on this machine reaches it."""
    host = host or os.environ.get("HOST") or DEFAULT_HOST
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # every interface: loopback among them
    return f"http://{url_host(host)}:{port or os.environ.get('PORT') or DEFAULT_PORT}"


def runs_route(experiment_id: str, run_id: str | None = None) -> str:
    """The UI's route (MLflow 3.17) to experiment `experiment_id`'s runs table, or to run `run_id`'s page,
    in its machine-learning view."""
    route = f"#/experiments/{quote(str(experiment_id), safe='')}/runs"
    if run_id is not None:
        route += f"/{quote(run_id, safe='')}"
    return f"{route}?{UI_WORKFLOW}"


def browse_url(tracking_uri: str, experiment_id: str, run_id: str | None = None) -> str | None:
    """Where the MLflow UI shows experiment `experiment_id`'s runs table, or run `run_id`'s page: on the
    server itself for an http(s) store, on `make ui` (HOST, PORT: 127.0.0.1:5000) for a database; None for
    a store with no UI of ours (Databricks, a file store)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        port = f":{parsed.port}" if parsed.port else ""
        # No user name or password (printed at the end of a run), no query: the UI is at the server's path.
        base = f"{parsed.scheme}://{url_host(parsed.hostname)}{port}{parsed.path.rstrip('/')}"
    elif is_database(tracking_uri):
        base = ui_url()
    else:
        return None
    return f"{base}/{runs_route(experiment_id, run_id)}"


def ui_command(tracking_uri: str) -> str:
    """The command that serves database `tracking_uri` in the UI: `make ui`, told the store unless it is the
    default (a store set for one command only is not the next command's)."""
    if tracking_uri == DEFAULT_TRACKING_URI:
        return "make ui"
    return f"MLFLOW_TRACKING_URI={shlex.quote(redacted(tracking_uri))} make ui"


def where_to_browse(tracking_uri: str, experiment_id: str, run_id: str | None = None) -> str | None:
    """The line that ends a command: where the UI shows what it logged (`browse_url`), and for a local
    database the command that serves it (`ui_command`); None for a store with no UI of ours."""
    url = browse_url(tracking_uri, experiment_id, run_id)
    if url is None:
        return None
    if is_database(tracking_uri):
        return f"browse it (after `{ui_command(tracking_uri)}`): {url}"
    return f"browse it: {url}"


def redacted(uri: str) -> str:
    """`uri` without its password, for messages."""
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()
