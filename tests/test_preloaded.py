"""A command started through `preloaded` sees what a fresh interpreter of the same command sees, and ends as
it would: the tests that start drivers that way test what users run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import preloaded
import pytest
from entry_points import REPO

# What a process can tell of how it was started.
PROBE = """
import json, os, signal, sys
import torch
print(json.dumps({
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "pythonpath": [p for p in sys.path if p.endswith("on-the-pythonpath")],
    "name": __name__,
    "variable": os.environ.get("PRELOADED_PROBE"),
    "stdin": sys.stdin.read(),
    "stdout_line_buffered": sys.stdout.line_buffering,
    "sigint_is_python": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
    "sigterm": str(signal.getsignal(signal.SIGTERM)),
    "sigpipe": str(signal.getsignal(signal.SIGPIPE)),
    "sigchld": str(signal.getsignal(signal.SIGCHLD)),
    "threads": torch.get_num_threads(),
    "session_leader": os.getsid(0) == os.getpid(),
}))
print("to stderr", file=sys.stderr)
"""


def both(args: list[str], tmp_path, **kwargs) -> tuple[subprocess.CompletedProcess, ...]:
    """`python args` run fresh and through `preloaded`, with the same folder, environment and input."""
    env = dict(
        os.environ, PRELOADED_PROBE="42", OMP_NUM_THREADS="1", PYTHONPATH=str(tmp_path / "on-the-pythonpath")
    )
    common = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, **kwargs)
    return subprocess.run([sys.executable, *args], **common), preloaded.run([sys.executable, *args], **common)


@pytest.mark.drivers
def test_a_command_sees_what_a_fresh_interpreter_sees(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    (tmp_path / "probe_module.py").write_text(PROBE)
    for args in (["-c", PROBE, "a", "b c"], [str(script), "x"], ["-m", "probe_module", "--flag"]):
        fresh, forked = both(args, tmp_path, input="given on stdin")
        assert forked.returncode == fresh.returncode == 0, forked.stderr
        assert json.loads(forked.stdout) == json.loads(fresh.stdout)
        assert forked.stderr == fresh.stderr == "to stderr\n"
    (_, forked) = both(["-c", PROBE], tmp_path, start_new_session=True)
    assert json.loads(forked.stdout)["session_leader"]


@pytest.mark.drivers
@pytest.mark.parametrize(
    "code",
    [
        "raise SystemExit(3)",
        "raise SystemExit('a message')",
        "1 / 0",
        "import sys; sys.exit()",
        "raise KeyboardInterrupt",
    ],
)
def test_a_command_ends_with_the_status_and_output_of_a_fresh_interpreter(tmp_path, code):
    fresh, forked = both(["-c", code], tmp_path)
    assert forked.returncode == fresh.returncode
    assert forked.stderr.splitlines()[-1:] == fresh.stderr.splitlines()[-1:]


@pytest.mark.drivers
def test_a_command_is_signalled_and_killed_as_a_process_of_its_own(tmp_path):
    code = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
print("up", flush=True)
time.sleep(60)
"""
    process = preloaded.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "up\n" and process.poll() is None
    process.terminate()
    assert process.wait(timeout=30) == 143
    process = preloaded.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=REPO)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.1)
    process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL
