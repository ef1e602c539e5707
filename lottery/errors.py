"""Errors a user can cause, and the one-line exit they end in."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


class _Deferral(threading.local):
    depth = 0  # how many `stops_deferred` blocks this thread is in (signals reach the main thread only)
    pending = False  # a stop came in one of them


_deferral = _Deferral()


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM that come inside the block take effect when it ends (a second one at once).

    For calls that must not stop halfway: a tracking-store call interrupted inside SQLAlchemy can leave its
    session half-open (`IllegalStateChangeError`), and the clean-up that marks the run KILLED then fails."""
    _deferral.depth += 1
    try:
        yield
    finally:
        _deferral.depth -= 1
        if not _deferral.depth and _deferral.pending:
            _deferral.pending = False
            raise KeyboardInterrupt


class UserError(Exception):
    """A problem the user can fix: the message names the problem and the fix, in one line."""


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are `UserError`s: one line, pointing at `--help`."""

    def error(self, message: str):
        raise UserError(f"{message} (see `{self.prog} --help`)")


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Run an entry point; a `UserError`, Ctrl-C or SIGTERM ends it with one line on stderr and a non-zero
    exit. SIGTERM (`kill`, a scheduler's time limit) is handled as Ctrl-C is: the runs it stops end KILLED."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        stopped_by = []

        def on_stop(signum, frame):
            stopped_by.append(signum)
            # The signal lands anywhere, e.g. inside a SQL fetch: libraries that clean up after the
            # interruption (SQLAlchemy closing its cursor) must not log tracebacks over the one line.
            logging.disable(logging.CRITICAL)
            if _deferral.depth and len(stopped_by) == 1:
                _deferral.pending = True  # raised when the block ends
                return
            raise KeyboardInterrupt

        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {signum: signal.signal(signum, on_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print_error(str(error))
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            terminated = signal.SIGTERM in stopped_by
            what = "terminated (SIGTERM)" if terminated else "interrupted"
            print(f"{what}: re-run the same command to resume", file=sys.stderr)
            raise SystemExit(143 if terminated else 130) from None
        finally:
            _deferral.pending = False
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            if stopped_by:
                logging.disable(logging.NOTSET)

    return wrapper


def print_error(message: str) -> None:
    """The one line a command that fails ends with, on stderr: `error: <message>`."""
    print(f"error: {message}", file=sys.stderr)


def first_line(error: BaseException | str) -> str:
    """The first line of an error's message, or of a text such as another program's (at most 200 characters),
    for one-line reports; an error without a message is named by its type."""
    fallback = error if isinstance(error, str) else type(error).__name__
    return (str(error).strip().splitlines() or [fallback])[0][:200]
