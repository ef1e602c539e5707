"""What a driver prints: every line on stdout, flushed as said; progress bars (a bar per round,
`lottery.training.progress`, and Ray's bar of finished trials) only when stdout is a terminal that has a
size, unless forced on or off. Without bars a trial says one line per epoch besides its line per round, so
that a log redirected to a file stays small and plain."""

from __future__ import annotations

import os
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
    the bars and the lines go) is a terminal, and not one of zero columns or zero lines, where tqdm shows
    no bar (`script` run without a terminal makes one of 0×0)."""
    if forced is not None:
        return forced
    stream = sys.stdout if stream is None else stream
    try:
        if stream is None or not stream.isatty():
            return False
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):  # a terminal without a file descriptor or a size
        return True
    return size.columns > 0 and size.lines > 0
