"""Acting at a trial's round boundary in tests: an interruption, a lost server, right after a round is
recorded."""

from collections.abc import Callable

from lottery.execution.trial import Trial


def after_round(monkeypatch, index: int, act: Callable[[], None]) -> Callable[[], None]:
    """Make every trial call `act()` once round `index` is recorded; return what undoes it."""
    original = Trial.on_round_end

    def hooked(self, result):
        original(self, result)
        if result.round == index:
            act()

    monkeypatch.setattr(Trial, "on_round_end", hooked)
    return lambda: monkeypatch.setattr(Trial, "on_round_end", original)


def interrupt() -> None:
    """What Ctrl-C does to the code it lands in."""
    raise KeyboardInterrupt
