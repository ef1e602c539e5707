"""A throwaway PostgreSQL server for tests: initialised as `make postgres` initialises its own (Debian's
binaries, an unprivileged account when run as root), in a temporary folder, but listening on a free port of
127.0.0.1 with a password, so that a wrong one can be tried. Databases are cloned in milliseconds from a
template whose MLflow tables were created once."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import preloaded
from entry_points import REPO
from tracking_server import free_port

from experiments.postgres import INSTALL, Account, bindir, initdb
from lottery.errors import UserError

USER = "lottery"
TEMPLATE = "mlflow_template"
STARTUP_TIMEOUT = 60.0


def missing() -> str | None:
    """Why PostgreSQL tests cannot run here (and the command that fixes it), or None if they can."""
    try:
        bindir()
        Account.for_server()
        import psycopg  # noqa: F401
    except UserError:
        return f"PostgreSQL is not installed: {INSTALL}"
    except ImportError:
        return "psycopg is not installed: .venv/bin/pip install -e '.[postgres]'"
    return None


@dataclass
class PostgresServer:
    """A server over the cluster in `root/data`, on 127.0.0.1:`port`, superuser `lottery` with `password`."""

    root: Path
    port: int
    password: str
    settings: tuple[str, ...] = ()
    process: subprocess.Popen | None = field(default=None, repr=False)
    _databases: int = 0

    @classmethod
    @contextlib.contextmanager
    def started(cls, *settings: str) -> Iterator[PostgresServer]:
        """A new cluster in a temporary folder, its server started with `settings` (`-c name=value`) besides
        the durable defaults, a template database migrated by MLflow; removed on exit."""
        root = Path(tempfile.mkdtemp(prefix="pg-"))
        server = cls(root, free_port(), secrets.token_hex(8), settings)
        account = Account.for_server()
        account.owns(root)
        try:
            password_file = root / "password"
            password_file.write_text(server.password)
            account.owns(password_file)
            initdb(root / "data", account, USER, "--auth=scram-sha-256", f"--pwfile={password_file}")
            server.start()
            server.create(TEMPLATE)
            server.migrate(TEMPLATE)
            yield server
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)

    def uri(self, database: str, password: str | None = None, user: str = USER) -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.uri(database), autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create(self, name: str, template: str | None = None) -> str:
        """A new database `name` (a clone of `template` if given); its URL."""
        self.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.uri(name)

    def migrate(self, database: str) -> None:
        """MLflow's tables in `database`, created in a process of its own, so that no connection of its pool
        stays open to the database (a template cannot be cloned while one is); forked from the preloaded
        server, which imported MLflow once, as a fresh interpreter would have to."""
        code = "import sys; from lottery.tracking import store; store.connect(sys.argv[1])"
        done = preloaded.run([sys.executable, "-c", code, self.uri(database)], cwd=REPO, capture_output=True)
        if done.returncode:
            raise RuntimeError(
                f"MLflow could not create its tables in {database}:\n{done.stderr.decode()[-3000:]}"
            )

    def database(self) -> str:
        """The URL of a new database holding MLflow's empty tables (a clone of the template)."""
        self._databases += 1
        return self.create(f"store_{self._databases}", template=TEMPLATE)

    def start(self) -> None:
        account = Account.for_server()
        command = [
            str(bindir() / "postgres"),
            "-D",
            str(self.root / "data"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.root}",
            *(arg for setting in self.settings for arg in ("-c", setting)),
        ]
        log = self.root / "postgres.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=account.become, cwd="/"
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.uri("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (SIGINT): connections are cut, as when a database goes down."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
