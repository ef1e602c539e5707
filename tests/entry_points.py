"""Running an entry point as a user does, in its own process, to see exactly what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The environment of a training process a test starts: torch's threads spin while they wait for a core, and
# on a machine as loaded as a test run is, a driver with two of them spends 2-3x the CPU of one.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def refused(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m module args`, checked to end as a user error does: exit 2, one line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result
