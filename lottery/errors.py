"""Errors a user can cause, and the one-line exit they end in."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A problem the user can fix: the message names the problem and the fix, in one line."""


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are `UserError`s: one line, pointing at `--help`."""

    def error(self, message: str):
        raise UserError(f"{message} (see `{self.prog} --help`)")


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Run an entry point; a `UserError` (or Ctrl-C) ends it with one line on stderr and a non-zero exit."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted: re-run the same command to resume", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper
