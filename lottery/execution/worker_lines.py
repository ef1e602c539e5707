"""The workers' summary lines on their way to the driver (a Ray actor's state).

Kept apart from `lottery.execution.ray_executor` so that the actor's process imports nothing heavy (no torch).
"""

from __future__ import annotations


class WorkerLines:
    """The workers' summary lines, in the order each worker sent them, until the driver takes them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def put(self, line: str) -> None:
        self.lines.append(line)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    def flush(self) -> None:
        """Returns once every line sent before by the caller is in (a synchronous actor runs one caller's
        calls in order)."""
