"""A local PostgreSQL for `make server`: `python -m experiments.postgres` (what `make postgres` runs).

Its data lives under `mlruns/postgres/` (`--folder`), created on first use with a database `mlflow`. It
listens on a Unix socket in that folder only, no TCP port, and admits only the user who created it, by peer
authentication: no password anywhere. It prints the BACKEND_STORE_URI to give `make server`, then runs in
the foreground until Ctrl-C, as `make server` does. PostgreSQL refuses to run as root: started by root, it
runs as the `postgres` account, and the database user is still root.

The binaries are found on PATH (`initdb`, `postgres`) or in Debian's /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import argparse
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from experiments.serving import stand_out
from lottery.errors import ArgumentParser, UserError, exit_on_user_error

INSTALL = "apt-get install -y postgresql"
DEFAULT_FOLDER = "mlruns/postgres"
DATABASE = "mlflow"
SOCKET_NAME = ".s.PGSQL.5432"  # PostgreSQL's socket on its default port
SOCKET_PATH_LIMIT = 107  # bytes in a Unix socket's path (sun_path)
# Enough for 8 server workers at SQLAlchemy's default pool (5 + 10 each), with room for the analysis.
MAX_CONNECTIONS = 200


def bindir() -> Path:
    """The folder of PostgreSQL's server binaries; UserError saying how to install them if none."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if versions:
        return versions[-1].parent
    raise UserError(
        f"PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql): {INSTALL} (Debian, "
        "Ubuntu), or point make server at an existing database: BACKEND_STORE_URI=postgresql://user@host/db"
    )


@dataclass(frozen=True)
class Account:
    """Who runs the server: this user, or `postgres` when this is root (PostgreSQL refuses root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_server(cls) -> Account:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
        else:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise UserError(
                    "PostgreSQL refuses to run as root and this machine has no `postgres` account: run "
                    f"this as another user, or install Debian's package, which creates it ({INSTALL})"
                ) from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def owns(self, path: Path) -> None:
        """Make `path` this account's (when this is root)."""
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def may_enter(self, folder: Path) -> bool:
        """Whether this account may traverse `folder` (as its owner, or as anyone)."""
        mode = folder.stat()
        return bool(mode.st_mode & 0o001) or (mode.st_uid == self.uid and bool(mode.st_mode & 0o100))

    def become(self) -> None:
        """Become this account (when this is root): for a child before it execs, or before this execs."""
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def run(self, command: list[str], stdin: str = "") -> None:
        """Run `command` as this account; UserError with its last line if it fails."""
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, preexec_fn=self.become, cwd="/"
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"{Path(command[0]).name} failed ({last}); see {command[0]} --help")


def initdb(data: Path, account: Account, superuser: str, *options: str) -> None:
    """A new database cluster in `data` (created), owned by `account`, whose superuser is `superuser`."""
    data.mkdir(parents=True, mode=0o700)
    account.owns(data)
    command = [str(bindir() / "initdb"), "-D", str(data), "-U", superuser, "-E", "UTF8", "--locale=C"]
    account.run([*command, *options])


def create_database(data: Path, account: Account, name: str) -> None:
    """Create database `name` in the stopped cluster at `data` (single-user mode: no server needed)."""
    single_user = [str(bindir() / "postgres"), "--single", "-D", str(data), "postgres"]
    account.run(single_user, f"CREATE DATABASE {name}\n")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's, the server's
        return True
    return True


def backend_uri(user: str, folder: Path) -> str:
    """The URL of database `mlflow` through the socket in `folder`, as user `user`."""
    return f"postgresql://{quote(user, safe='')}@/{DATABASE}?host={quote(str(folder), safe='/')}"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m experiments.postgres",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--folder", default=DEFAULT_FOLDER, help="where the data and the socket live")
    p.add_argument(
        "--max-connections", type=int, default=MAX_CONNECTIONS, help="PostgreSQL's max_connections"
    )
    return p.parse_args(argv)


def prepared(folder: Path, account: Account, user: str) -> Path:
    """The data folder under `folder`, created with database `mlflow` on first use; UserError if a server
    runs over it already."""
    data = folder / "data"
    if len(str(folder / SOCKET_NAME).encode()) > SOCKET_PATH_LIMIT:
        raise UserError(
            f"{folder / SOCKET_NAME} is longer than {SOCKET_PATH_LIMIT} bytes, the limit of a Unix socket's "
            "path: choose a shorter folder, make postgres POSTGRES_DIR=…"
        )
    pid_file = data / "postmaster.pid"
    if pid_file.is_file():
        pid = pid_file.read_text().split("\n", 1)[0]
        if pid.isdigit() and alive(int(pid)):
            raise UserError(
                f"PostgreSQL runs over {folder} already (pid {pid}): use it, "
                f"make server BACKEND_STORE_URI='{backend_uri(user, folder)}', or stop it (Ctrl-C)"
            )
    closed = [parent for parent in folder.parents if parent.exists() and not account.may_enter(parent)]
    if closed:
        raise UserError(
            f"PostgreSQL runs as the account {account.name}, which may not enter {closed[0]}: choose a "
            "folder it can reach, e.g. make postgres POSTGRES_DIR=/var/tmp/lottery-postgres"
        )
    if not (data / "PG_VERSION").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        account.owns(folder)
        initdb(data, account, user, "--auth-local=peer", "--auth-host=reject")
        create_database(data, account, DATABASE)
    return data


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    folder = Path(args.folder).expanduser().resolve()
    account, user = Account.for_server(), pwd.getpwuid(os.geteuid()).pw_name
    data = prepared(folder, account, user)
    command = [
        str(bindir() / "postgres"),
        "-D",
        str(data),
        "-c",
        "listen_addresses=",
        "-c",
        f"unix_socket_directories={folder}",
        "-c",
        f"max_connections={args.max_connections}",
        # Not its start-up notes (LOG), nor the errors it returns to MLflow (a lost lease race is one).
        "-c",
        "log_min_messages=fatal",
    ]
    print(
        stand_out(
            f"PostgreSQL over {folder}, for this machine's user {user} only: "
            f"make server BACKEND_STORE_URI='{backend_uri(user, folder)}'"
        ),
        flush=True,
    )
    account.become()
    # PostgreSQL starts by changing into its working directory, which the account may not be let into (a
    # checkout under a private home or a `mktemp -d` folder): it would say so on every start. Its paths are
    # absolute, so it runs from /, as `run` runs the other commands.
    os.chdir("/")
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
