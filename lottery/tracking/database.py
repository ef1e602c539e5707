"""The database behind a tracking store (`sqlite:///…`, `postgresql://…`), checked before MLflow opens it,
and the one line, naming the fix, for each way a database fails.

- **Its driver.** SQLAlchemy maps a URL's dialect to a driver module: under SQLAlchemy 2.1 `postgresql://`
  and `postgresql+psycopg://` mean psycopg (3), which the `postgres` extra installs, and
  `postgresql+psycopg2://` means psycopg2. The check asks SQLAlchemy itself, so it follows that mapping.
- **An answer within seconds.** MLflow retries a database that does not answer for about 100 s, logging a
  warning each time; one connection with a timeout tells sooner.
- **What failed.** A database that is down, refuses the credentials, does not exist, has no connection left
  or holds an older MLflow schema says so in its error's text, on this machine or behind a tracking server;
  `problem` reads it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lottery.errors import UserError, first_line
from lottery.tracking.uris import redacted

CONNECT_TIMEOUT_SECONDS = 5
EXTRAS = {"psycopg": "postgres"}  # a driver module -> the extra of this project that installs it
PACKAGES = {"psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient"}  # other drivers' pip packages
POOL_VARIABLES = ("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW")
DEFAULT_POOL = (5, 10)  # SQLAlchemy's QueuePool: 5 connections kept, 10 more at peak

# What a database's error says (regular expressions, lowercase text) -> what went wrong and what to do.
_PROBLEMS = (
    (
        r"too many clients|too many connections|remaining connection slots",
        "the database has no connection left (max_connections)",
        "lower the server's WORKERS or MLFLOW_SQLALCHEMYSTORE_POOL_SIZE / _MAX_OVERFLOW, or raise the "
        "database's max_connections",
    ),
    (
        r"password authentication failed|no password supplied|peer authentication failed|access denied for",
        "the database refused the credentials",
        "check the user in the URL and its password (PGPASSWORD or ~/.pgpass, never in the URL)",
    ),
    (
        r'database "[^"]*" does not exist|unknown database',
        "the database named in the URL does not exist",
        "create it (`createdb NAME`) or correct the URL",
    ),
    (
        r"out-of-date database schema",
        "the database holds an older MLflow schema",
        "back it up, then migrate it: .venv/bin/mlflow db upgrade URL",
    ),
    (
        r"database is locked",
        "the SQLite file was locked by another writer for too long",
        "serve the store from PostgreSQL (`make postgres`, see the README's Scale out)",
    ),
    (
        r"connection refused|could not connect|timeout expired|failed to resolve host|connection to server"
        r" .* failed|server closed the connection|terminating connection|can't connect to",
        "the database does not answer",
        "start it (`make postgres` for the local one) or correct the host and port in the URL",
    ),
)


def problem(text: str) -> tuple[str, str] | None:
    """(what went wrong, the fix) if `text` — a database's error, or a tracking server's message quoting
    one — says the database failed in a way we know; None otherwise."""
    lowered = text.lower()
    for pattern, what, fix in _PROBLEMS:
        if re.search(pattern, lowered):
            return what, fix
    return None


def install_command(extra: str) -> str:
    """The command that installs the project's optional `extra` into the running environment."""
    pip = Path(sys.executable).parent / "pip"
    relative = os.path.relpath(pip)
    return f"{pip if relative.startswith('..') else relative} install -e '.[{extra}]'"


def check_driver(uri: str, setting: str) -> None:
    """UserError, naming what installs it, unless the driver SQLAlchemy picks for `uri` is installed."""
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(uri).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise UserError(f"{setting}={redacted(uri)}: {first_line(error)}") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = (error.name or dialect.driver).partition(".")[0]
        if module in EXTRAS:
            fix = install_command(EXTRAS[module])
        else:
            fix = f"pip install {PACKAGES.get(module, module)}"
            if dialect.name == "postgresql":
                fix += f", or use postgresql:// (psycopg, which `{install_command('postgres')}` installs)"
        raise UserError(
            f"{setting}={redacted(uri)} needs the database driver {module}, which is not installed: {fix}"
        ) from None


@dataclass(frozen=True)
class DatabaseState:
    """A database as one connection found it: for PostgreSQL, how many connections clients may open
    (`connection_limit`) and how many they have open (`connections`); None for the others."""

    connection_limit: int | None = None
    connections: int | None = None


def inspect(uri: str, setting: str) -> DatabaseState:
    """The state of the database at `uri` through one connection (no pool, a timeout); UserError naming the
    fix if it cannot be had. A SQLite file is created if missing, as MLflow would."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    dialect = uri.partition(":")[0].partition("+")[0]
    timeout = {"postgresql": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}.get(dialect, {})
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=timeout)
    try:
        with engine.connect() as connection:
            if dialect != "postgresql":
                return DatabaseState()
            limit, used = connection.execute(
                sqlalchemy.text(
                    "SELECT current_setting('max_connections')::int"
                    " - current_setting('superuser_reserved_connections')::int,"
                    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
                )
            ).one()
            return DatabaseState(limit, used)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise UserError(failed(f"{setting}={redacted(uri)}", error)) from None
    finally:
        engine.dispose()


def failed(where: str, error: BaseException | str) -> str:
    """The line for a database at `where` that failed with `error`: what went wrong and the fix if known."""
    known = problem(str(error))
    if known is None:
        return f"{where}: {first_line(error) if isinstance(error, BaseException) else error}"
    what, fix = known
    return f"{where}: {what} ({_cause(error)}); {fix}"


def _cause(error: BaseException | str) -> str:
    """The database's own words, without SQLAlchemy's "(psycopg.OperationalError) connection failed:"."""
    return first_line(error).rpartition(" failed: ")[2].removeprefix("FATAL:").strip()


def pool_connections(workers: int) -> int:
    """How many connections `workers` server processes may open at peak: each keeps a pool of
    MLFLOW_SQLALCHEMYSTORE_POOL_SIZE connections and opens up to …_MAX_OVERFLOW more under load."""
    sizes = []
    for variable, default in zip(POOL_VARIABLES, DEFAULT_POOL, strict=True):
        value = os.environ.get(variable) or str(default)
        if not value.isdigit():
            raise UserError(f"{variable} must be a whole number of connections, got {value!r}")
        sizes.append(int(value))
    return workers * sum(sizes)
