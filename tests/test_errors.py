"""A signal ends an entry point in one line, whatever the libraries it interrupts log while cleaning up; every
store call the sources make completes before a stop takes effect."""

import logging
import os
import re
import signal

import pytest
from entry_points import REPO

from lottery.errors import exit_on_user_error


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_ends_in_one_line_though_a_library_logs_its_cleanup(signum, code, line, capsys, caplog):
    @exit_on_user_error
    def main():
        try:
            os.kill(os.getpid(), signum)
        except KeyboardInterrupt:  # as SQLAlchemy does when the signal lands inside a fetch
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").error("Error closing cursor", exc_info=True)
            raise

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with caplog.at_level(logging.DEBUG), pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == code
    assert capsys.readouterr().err.splitlines() == [f"{line}: re-run the same command to resume"]
    assert caplog.records == []
    # Afterwards the process is as it was: its handlers back, logging on.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    logging.getLogger("lottery").warning("still logged")
    assert [r.getMessage() for r in caplog.records] == ["still logged"]


@pytest.mark.parametrize(("stops", "seen"), [(1, "RUNNING"), (2, "SCHEDULED")])
def test_a_stop_inside_a_store_call_takes_effect_when_the_call_ends(
    stops, seen, store_uri, monkeypatch, capsys
):
    """SIGTERM while SQLAlchemy opens the call's transaction: the call completes, then the stop; the driver's
    clean-up marks the run KILLED. A second SIGTERM does not wait (a store call that hangs)."""
    from sqlalchemy.orm import Session

    from lottery.tracking import store

    client = store.connect(store_uri)
    run_id = client.create_run(store.experiment_id(client, "digits")).info.run_id
    client.update_run(run_id, status="SCHEDULED")
    statuses = []
    opening = Session._connection_for_bind

    def stopped_while_opening(self, *args, **kwargs):
        monkeypatch.setattr(Session, "_connection_for_bind", opening)  # the first store call only
        for _ in range(stops):
            os.kill(os.getpid(), signal.SIGTERM)
        return opening(self, *args, **kwargs)

    @exit_on_user_error
    def main():
        monkeypatch.setattr(Session, "_connection_for_bind", stopped_while_opening)
        try:
            client.update_run(run_id, status="RUNNING")
        except KeyboardInterrupt:
            statuses.append(client.get_run(run_id).info.status)
            client.set_terminated(run_id, "KILLED")  # as the driver does for the runs it holds
            raise

    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 143
    assert capsys.readouterr().err.splitlines() == ["terminated (SIGTERM): re-run the same command to resume"]
    assert statuses == [seen]  # the call completed before the stop; a second stop cut it short
    assert client.get_run(run_id).info.status == "KILLED"


def test_every_store_call_of_the_sources_defers_stops():
    from lottery.tracking.client import DEFERRED

    sources = [path for top in ("lottery", "analysis", "experiments") for path in (REPO / top).rglob("*.py")]
    called = {name for path in sources for name in re.findall(r"\bclient\.([a-z_]+)\(", path.read_text())}
    assert called and called <= set(DEFERRED), sorted(called - set(DEFERRED))
