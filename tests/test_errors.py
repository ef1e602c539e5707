"""A signal ends an entry point in one line, whatever the libraries it interrupts log while cleaning up."""

import logging
import os
import signal

import pytest

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
