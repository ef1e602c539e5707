"""A failed call to the tracking store ends the driver in one line that names what failed and the fix: read
from the database's own words (here or behind a server), never from an error that is not a database's."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import OperationalError

from lottery.tracking import database, store


class Client:
    """A client whose probe of the store (`search_experiments`) answers, or fails with `failure`."""

    def __init__(self, tracking_uri: str, failure: BaseException | None = None) -> None:
        self.tracking_uri, self.failure = tracking_uri, failure

    def search_experiments(self, max_results: int):
        if self.failure is not None:
            raise self.failure
        return []


TOO_MANY = 'connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients already'
POSTGRES = "postgresql://lottery:s3cret@db/mlflow"
UNREACHABLE = "http://127.0.0.1:1"  # nothing listens: no server's words to read


def database_error(text: str) -> MlflowException:
    """What MLflow raises when its database fails: SQLAlchemy's error, quoted."""
    return MlflowException(str(OperationalError("SELECT 1", {}, Exception(text))))


def test_no_connection_left_on_a_database_that_answers_again_ends_the_driver():
    lost = store.store_lost(Client(POSTGRES), database_error(TOO_MANY))
    assert lost is not None and "s3cret" not in str(lost)
    assert str(lost).startswith(
        "the MLflow tracking store postgresql://lottery:***@db/mlflow: the database has"
    )
    assert "(sorry, too many clients already)" in str(lost) and "re-run the same command" in str(lost)


def test_a_server_whose_database_failed_names_both_causes_and_fixes():
    error = MlflowException(
        "API request to …/runs/log-batch failed (Caused by ResponseError('too many 503 error responses'))"
    )
    lost = str(store.store_lost(Client(UNREACHABLE), error))
    assert lost.startswith(
        "the MLflow tracking server http://127.0.0.1:1 could not use its database (HTTP 503)"
    )
    assert "max_connections" in lost and "restart it" in lost


def test_a_server_that_stopped_answering_is_lost_not_a_database():
    refused = ConnectionRefusedError("Connection refused")  # a server's, which no database pattern reads
    lost = str(store.store_lost(Client(UNREACHABLE, failure=refused), MlflowException("Connection refused")))
    assert lost.startswith(
        "lost the MLflow tracking store http://127.0.0.1:1 (Connection refused); restart it"
    )


@pytest.mark.parametrize(
    "error",
    [
        OSError("[Errno 2] No such file or directory: 'ticket/mask.npz'"),
        MlflowException("Experiment with id '5' does not exist."),
        KeyError("test_acc"),
    ],
)
def test_what_is_no_database_failure_is_left_to_the_caller(error):
    assert store.store_lost(Client("sqlite:////tmp/x/mlflow.db"), error) is None
    assert store.store_lost(Client(POSTGRES), error) is None


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (TOO_MANY, "no connection left"),
        (
            "FATAL:  remaining connection slots are reserved for non-replication superuser",
            "no connection left",
        ),
        ('FATAL:  password authentication failed for user "lottery"', "refused the credentials"),
        ('FATAL:  database "nope" does not exist', "does not exist"),
        ("Detected out-of-date database schema (found version a, but expected b).", "older MLflow schema"),
        ('connection to server at "db", port 5432 failed: Connection refused', "does not answer"),
        ("(sqlite3.OperationalError) database is locked", "locked"),
    ],
)
def test_database_problems_are_recognised(text, what):
    known = database.problem(text)
    assert known is not None and what in known[0]
