"""Trial hooks of the tests (`lottery.execution.trial_hooks`): acting at a trial's round boundary (an
interruption, a lost server) and watching which rounds and controls a trial trains."""

from __future__ import annotations

from collections.abc import Callable

from lottery.execution.trial_hooks import TrialHook


class AfterRound(TrialHook):
    """Calls `act()` in every trial once round `index` is recorded."""

    def __init__(self, index: int, act: Callable[[], None]) -> None:
        self.index, self.act = index, act

    def round_end(self, trial, result) -> None:
        if result.round == self.index:
            self.act()


class Watch(TrialHook):
    """Collects the rounds recorded and the controls started, in order, across trials."""

    def __init__(self) -> None:
        self.rounds: list[int] = []
        self.controls: list[str] = []

    def round_end(self, trial, result) -> None:
        self.rounds.append(result.round)

    def control_start(self, trial, control) -> None:
        self.controls.append(control.name)


class FailAt(TrialHook):
    """Raises `error` when control `start` is about to start, or once control `end` is recorded."""

    def __init__(self, error: BaseException, start: str = "", end: str = "") -> None:
        self.error, self.start, self.end = error, start, end

    def control_start(self, trial, control) -> None:
        if control.name == self.start:
            raise self.error

    def control_end(self, trial, control) -> None:
        if control.name == self.end:
            raise self.error


def interrupt() -> None:
    """What Ctrl-C does to the code it lands in."""
    raise KeyboardInterrupt
