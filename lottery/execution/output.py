"""What a driver prints: every line on stdout, flushed as said; progress bars (Lightning's, and Ray's bar of
finished trials) only when stdout is a terminal, unless forced on or off. Without bars a trial says one
line per epoch besides its line per round, so that a log redirected to a file stays small and plain."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


def print_line(line: str) -> None:
    """Print a summary line on stdout, above any progress bar there, and flush it: a log that is a file shows
    each line as soon as it is said."""
    tqdm.write(line)
    sys.stdout.flush()


def progress_bars(forced: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to show progress bars: `forced` unless None, else whether `stream` (default: stdout, where
    the bars and the lines go) is a terminal."""
    if forced is not None:
        return forced
    stream = sys.stdout if stream is None else stream
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
