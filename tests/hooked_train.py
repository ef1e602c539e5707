"""`python -m experiments.train` whose trials act at an exact point in their Ray workers, for the tests of
EXECUTOR=ray that kill or remove what a trial runs on: `python tests/hooked_train.py HOOK FOLDER TRAIN_ARG…`.
Run as a script, its hooks are classes of `__main__`, which travel to the workers by value (workers cannot
import the tests). HOOK is one of

- `kill`: trial 0's worker kills itself with SIGKILL (as a crash or the OOM killer would), once, as soon as
  round 0 is recorded;
- `hold`: each trial, as soon as round 0 is recorded, writes FOLDER/trial-<k> and waits there until
  FOLDER/release exists.

A test then acts on trials it knows to be mid-trial, however slow the machine, instead of polling the log
of trials made long enough to still be running when it acts.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from pathlib import Path

from lottery.execution.trial_hooks import TrialHook

HOLD_SECONDS = 600  # a trial held longer than any test waits fails instead of hanging


class KillOnce(TrialHook):
    """Trial 0's worker dies once round 0 is recorded; the retry, which resumes after it, lives on."""

    def __init__(self, folder: Path) -> None:
        self.marker = folder / "killed"

    def round_end(self, trial, result) -> None:
        if trial == 0 and result.round == 0 and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


class Hold(TrialHook):
    """Each trial says it recorded round 0 (FOLDER/trial-<k>) and waits for FOLDER/release."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def round_end(self, trial, result) -> None:
        if result.round != 0:
            return
        (self.folder / f"trial-{trial}").touch()
        deadline = time.monotonic() + HOLD_SECONDS
        while not (self.folder / "release").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"trial {trial} held {HOLD_SECONDS} s: no {self.folder / 'release'}")
            time.sleep(0.1)


HOOKS = {"kill": KillOnce, "hold": Hold}


def held(folder: Path) -> int:
    """How many trials `Hold` holds (or held) in `folder`."""
    return len(list(folder.glob("trial-*")))


def main(argv: list[str]) -> None:
    name, folder, *train_args = argv
    from experiments import train
    from lottery.execution import experiment

    hook = HOOKS[name](Path(folder))
    experiment.run_experiment = functools.partial(experiment.run_experiment, hooks=[hook])
    train.main(train_args)


if __name__ == "__main__":
    main(sys.argv[1:])
