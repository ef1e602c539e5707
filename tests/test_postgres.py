"""PostgreSQL behind the tracking store: `make postgres` serves `make server` in one command, and every way a
database fails — down, a wrong password, a schema not migrated, no connection left — ends a driver or the
server in one line naming the fix, with nothing marked FINISHED that is not.

What we promise on SQLite is re-run on PostgreSQL where it is tested (conftest's `backend_store_uri`): two
drivers of one configuration and the analysis of their store, the lease race, a driver killed, the server
lost (test_leases.py, test_driver_faults.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import preloaded
import pytest
from entry_points import REPO, refused
from postgres_server import missing
from tracking_server import app_server, free_port, running_server, stop
from trial_store import trial_runs

from experiments import postgres as postgres_command
from experiments import server, serving
from lottery.errors import UserError
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import store

# Every test here starts PostgreSQL (the session's, once), or a tracking server: not in the quick loop.
pytestmark = pytest.mark.drivers

TIMEOUT = 300
OLD_REVISION = "0584bdc529eb"  # a revision of MLflow 2.x's schema (this MLflow's head is later)


@pytest.fixture
def database(postgres) -> str:
    """A new database with MLflow's empty tables on the session's server."""
    return postgres.database()


def test_a_database_that_does_not_answer_is_named_within_seconds(postgres):
    began = time.monotonic()
    with pytest.raises(UserError) as error:
        store.connect(postgres.uri("mlflow").replace(f":{postgres.port}/", ":1/"))
    message = str(error.value)
    assert "the database does not answer (Connection refused" in message and "make postgres" in message
    assert postgres.password not in message
    assert time.monotonic() - began < 30  # MLflow alone retries for about 100 s


def test_a_wrong_password_is_named(postgres, database):
    with pytest.raises(UserError) as error:
        store.connect(postgres.uri(database.rsplit("/", 1)[1], password="wrong"))
    message = str(error.value)
    assert "the database refused the credentials (password authentication failed" in message
    assert "PGPASSWORD or ~/.pgpass" in message and ":wrong@" not in message


def test_a_missing_database_is_named(postgres):
    with pytest.raises(UserError, match=r'does not exist \(database "nowhere" does not exist\); create it'):
        store.connect(postgres.uri("nowhere"))


def test_no_connection_left_is_named(postgres, database):
    # A role allowed no connection: what a server whose pools took every connection leaves a driver.
    postgres.execute(f"CREATE ROLE crowded LOGIN PASSWORD '{postgres.password}' CONNECTION LIMIT 0")
    with pytest.raises(UserError) as error:
        store.connect(postgres.uri(database.rsplit("/", 1)[1], user="crowded"))
    assert "no connection left" in str(error.value) and "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE" in str(error.value)


def older_schema(postgres, database: str) -> str:
    """`database` as an older MLflow left it: its schema revision set back."""
    postgres.execute(f"UPDATE alembic_version SET version_num = '{OLD_REVISION}'", database.rsplit("/", 1)[1])
    return database


def test_a_schema_not_migrated_is_named_to_the_driver(postgres, database):
    with pytest.raises(UserError) as error:
        store.connect(older_schema(postgres, database))
    assert "holds an older MLflow schema" in str(error.value) and "mlflow db upgrade" in str(error.value)


def test_a_schema_not_migrated_is_named_by_the_server(postgres, database, tmp_path):
    uri = older_schema(postgres, database)
    args = ["--port", str(free_port()), "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path)]
    result = refused("experiments.server", *args)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: mlflow server could not open BACKEND_STORE_URI=postgresql://lottery:***@")
    assert "holds an older MLflow schema" in line and "mlflow db upgrade" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, PostgreSQL runs as another account")
def test_make_postgres_names_a_folder_its_account_cannot_reach(tmp_path, capsys):
    if missing() is not None:
        pytest.skip(missing())
    with pytest.raises(SystemExit):
        postgres_command.main(["--folder", str(tmp_path / "pg")])  # pytest's tmp_path is 0700, root's
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"error: PostgreSQL runs as the account postgres, which may not enter {tmp_path}: "
    )


def test_server_refuses_a_database_that_does_not_answer(postgres, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(serving, "serve", lambda *a: pytest.fail("would have started a server"))
    uri = postgres.uri("mlflow", password="wrong")
    with pytest.raises(SystemExit):
        server.main(["--backend-store-uri", uri, "--artifacts-destination", str(tmp_path)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: make server BACKEND_STORE_URI=postgresql://lottery:***@127.0.0.1:")
    assert "refused the credentials" in line


def test_server_warns_when_its_pool_may_exceed_the_connections_left(
    postgres, database, tmp_path, capsys, monkeypatch
):
    calls = []
    monkeypatch.setattr(serving, "serve", lambda *a: calls.append(a))
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", "20")
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW", "10")
    args = ["--workers", "4", "--backend-store-uri", database, "--artifacts-destination", str(tmp_path)]
    server.main(["--port", str(free_port()), *args])
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("warning: 4 server workers may open 120 database connections at peak")
    assert calls  # a warning, not a refusal: a pool is a ceiling, rarely reached


RERUN = ExperimentConfig(
    dataset="digits",
    trials=1,
    training=TrainingHparams(epochs=5),
    pruning=PruningHparams(rounds=1),
    model="toy",
)  # the driver's command below


def test_a_database_lost_mid_run_stops_the_driver_in_one_line_and_the_rerun_resumes(
    postgres, database, tmp_path, tiny_data
):
    command = [sys.executable, "-m", "experiments.train", "--dataset", "digits", "--model", "toy"]
    command += ["--trials", "1", "--rounds", "1", "--epochs", "5", "--no-progress-bar"]
    log = tmp_path / "train.log"
    with app_server(tmp_path / "server", database) as url:
        env = dict(os.environ, MLFLOW_TRACKING_URI=url)
        try:
            with open(log, "w") as out:
                driver = preloaded.Popen(
                    command, cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE, text=True
                )
            deadline = time.monotonic() + TIMEOUT
            while "round 0/1 · sparsity" not in log.read_text():
                assert driver.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            postgres.stop()
            _, stderr = driver.communicate(timeout=TIMEOUT)
        finally:
            if postgres.process is None:
                postgres.start()
        assert driver.returncode == 2
        (line,) = stderr.strip().splitlines()
        assert line.startswith(
            f"error: lost the MLflow tracking store {url}: the database does not answer"
        ), line
        assert "re-run the same command" in line
        (run,) = trial_runs(url)
        assert run.info.status == "RUNNING"  # nothing marked: the re-run (in this process) resumes it
        lines = []
        run_experiment(RERUN, "unused", url, say=lines.append, show_progress=False)
        assert any(
            re.search(r"resuming in digits/trial-00 .* after 1 completed rounds", line) for line in lines
        ), lines
        assert [r.info.status for r in trial_runs(url)] == ["FINISHED"]


def test_make_postgres_serves_make_server_in_one_command(tmp_path):
    """`make postgres` (its data in a folder of ours), then `make server` at the URL it prints."""
    if missing() is not None:
        pytest.skip(missing())
    folder = Path(tempfile.mkdtemp(prefix="pg-")) / "pg"  # pytest's folders are closed to other accounts
    folder.parent.chmod(0o755)
    make = [
        "make",
        "--no-print-directory",
        "--old-file=.venv/.installed",
        "postgres",
        f"POSTGRES_DIR={folder}",
    ]
    log = tmp_path / "postgres.log"
    with log.open("wb") as out:
        database = subprocess.Popen(
            make, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (said := re.search(r"BACKEND_STORE_URI='([^']+)'", log.read_text())):
            assert database.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        uri = said.group(1)
        assert uri.startswith("postgresql://") and f"host={folder}" in uri and "@/mlflow?" in uri
        again = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
        assert again.returncode == 2 and f"PostgreSQL runs over {folder} already" in again.stderr
        with running_server(tmp_path / "server", backend=uri) as url:
            client = store.connect(url)
            run = client.create_run(store.experiment_id(client, "digits"))
            client.log_metric(run.info.run_id, "test_acc", 0.5, step=0)
            assert client.get_metric_history(run.info.run_id, "test_acc")[0].value == 0.5
    finally:
        stop(database)
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert "ERROR" not in log.read_text() and "LOG:" not in log.read_text()  # quiet
