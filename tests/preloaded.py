"""Python processes for tests, forked from an interpreter that has imported torch, Lightning and MLflow once.

Every `python -m experiments.train …`, `python -c …` or `python script.py …` a test starts would spend 3–8 s
of CPU importing those libraries before doing what the test is about: on a 2-core machine, most of the whole
suite's time. `Popen` and `run` start the same command as a child of a server that imported them once per
test process (multiprocessing's forkserver, `PRELOAD`): a process of its own, with its pid, session,
environment, working folder, stdin/stdout/stderr, exit status and signals as `subprocess.Popen` gives them,
and `sys.path`, `sys.argv`, `__main__`, the standard streams and the signal handlers a fresh interpreter
would have.

What still differs from a fresh interpreter: the libraries of `PRELOAD` were imported with the server's
environment, so only environment variables read after import take effect (those of torch, Lightning and
MLflow the project uses are; torch's thread count is set from the child's OMP_NUM_THREADS), and so were the
interpreter's own start-up settings (PYTHONHASHSEED, PYTHONWARNINGS, -X options: a test that varies them
needs `subprocess`); those libraries are not imported again. Ray, our own packages and the tests' helpers
are not preloaded: they import in the child, with its environment. The tests of how a command starts (the
Makefile's commands, the refusals that come before any heavy import) keep `subprocess`.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import multiprocessing
import multiprocessing.util
import os
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import traceback
import types
from dataclasses import dataclass
from multiprocessing.reduction import DupFd

PIPE, STDOUT, DEVNULL = subprocess.PIPE, subprocess.STDOUT, subprocess.DEVNULL
# Third-party only, none of which reads at import an environment variable the tests set (Ray does: left out).
PRELOAD = (
    "numpy",
    "torch",
    "pytorch_lightning",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "sklearn.datasets",
)


@dataclass(frozen=True)
class Command:
    """`python ARGS` as the child runs it."""

    args: tuple[str, ...]  # what follows the interpreter: -m MODULE …, -c CODE …, or SCRIPT …
    cwd: str
    env: dict[str, str]
    new_session: bool
    base_path: tuple[str, ...]  # a fresh interpreter's sys.path after its first entry

    def main(self) -> None:
        """Run the command as a fresh interpreter's `__main__`."""
        first, *rest = self.args
        extra = [path for path in self.env.get("PYTHONPATH", "").split(os.pathsep) if path]
        if first == "-m":
            module, *argv = rest
            sys.path[:] = [self.cwd, *extra, *self.base_path]
            sys.argv = [module, *argv]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        elif first == "-c":
            code, *argv = rest
            sys.path[:] = ["", *extra, *self.base_path]
            sys.argv = ["-c", *argv]
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            exec(compile(code, "<string>", "exec"), main.__dict__)
        else:
            sys.path[:] = [os.path.dirname(os.path.abspath(first)), *extra, *self.base_path]
            sys.argv = [first, *rest]
            runpy.run_path(first, run_name="__main__")


def _child(command: Command, stdin: DupFd, stdout: DupFd, stderr: DupFd) -> None:
    """The forked child: its streams, session, folder, environment and signals, then the command; it leaves
    with the status a fresh interpreter would (atexit handlers run, threads joined)."""
    for target, fd in enumerate((stdin.detach(), stdout.detach(), stderr.detach())):
        os.dup2(fd, target)
    if command.new_session:
        os.setsid()
    os.chdir(command.cwd)
    os.environ.clear()
    os.environ.update(command.env)
    _fresh_signals()
    _fresh_streams()
    import torch

    torch.set_num_threads(int(command.env.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    code = 0
    try:
        command.main()
    except SystemExit as exit:
        code = _exit_status(exit.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback, then status 1
        traceback.print_exc()
        code = 1
    threading._shutdown()  # the interpreter's own order: non-daemon threads first, then atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if code < 0:  # killed by an uncaught Ctrl-C, as the interpreter makes itself
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _exit_status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _fresh_signals() -> None:
    """The handlers of a fresh interpreter: Python's Ctrl-C, the others as the interpreter left them (SIGPIPE
    and SIGXFSZ ignored, the rest default), where the forkserver ignores Ctrl-C and catches SIGCHLD."""
    for sig in (
        signal.SIGTERM,
        signal.SIGCHLD,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _fresh_streams() -> None:
    """sys.stdin/stdout/stderr on fds 0–2, buffered as a fresh interpreter buffers them: stdout by line on a
    terminal, else by block; stderr by line."""
    encoding = os.environ.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors="strict" if fd != 2 else "backslashreplace",
            line_buffering=line,
            write_through=unbuffered and mode == "w",
        )

    sys.stdin = sys.__stdin__ = stream(0, "r", False)
    sys.stdout = sys.__stdout__ = stream(1, "w", os.isatty(1))
    sys.stderr = sys.__stderr__ = stream(2, "w", True)


_context = None
_base_path: tuple[str, ...] | None = None


def context():
    """The multiprocessing context whose processes fork from the preloaded server (started on first use)."""
    global _context, _base_path
    if _context is None:
        fresh = subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            capture_output=True,
            text=True,
            check=True,
        )
        _base_path = tuple(json.loads(fresh.stdout))
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(list(PRELOAD))
    return _context


def remove_socket_folder() -> None:
    """Remove the folder of the forkserver's socket, if one was started: multiprocessing removes it at exit,
    which an xdist worker's `os._exit` (conftest) skips; the server itself ends with this process."""
    if _context is not None:
        shutil.rmtree(multiprocessing.util.get_temp_dir(), ignore_errors=True)


class Popen:
    """`subprocess.Popen(args, …)` for `args` = [sys.executable, …]: pid, poll, wait, communicate, signals,
    returncode, and the PIPE ends as `stdin`, `stdout`, `stderr`."""

    def __init__(
        self,
        args,
        *,
        cwd=None,
        env=None,
        stdin=None,
        stdout=None,
        stderr=None,
        text: bool = False,
        start_new_session: bool = False,
    ) -> None:
        args = [os.fspath(arg) for arg in args]
        if args[0] != sys.executable:
            raise ValueError(f"preloaded.Popen runs this interpreter only, not {args[0]}")
        forks = context()
        self._owned: list[int] = []  # the child's ends this process made: closed once the child has them
        child_ends = []
        self.stdin, ends = self._stream(stdin, "w", text, 0)
        child_ends.append(ends)
        self.stdout, ends = self._stream(stdout, "r", text, 1)
        child_ends.append(ends)
        if stderr == STDOUT:
            self.stderr, ends = None, child_ends[1]
        else:
            self.stderr, ends = self._stream(stderr, "r", text, 2)
        child_ends.append(ends)
        command = Command(
            tuple(args[1:]),
            os.fspath(cwd or os.getcwd()),
            dict(os.environ if env is None else env),
            start_new_session,
            _base_path,
        )
        self._process = forks.Process(target=_child, args=(command, *map(DupFd, child_ends)), daemon=False)
        self._process.start()
        for fd in self._owned:
            os.close(fd)
        self.pid = self._process.pid
        self.args = args
        self._read: dict[str, str | bytes] = {}
        self._readers: list[threading.Thread] | None = None  # reading stdout and stderr, once communicating

    def _stream(self, spec, mode: str, text: bool, fd: int):
        """(this process's end or None, the child's fd) of standard stream `fd`, as `spec` asks."""
        if spec is None:
            return None, fd
        if spec == DEVNULL:
            null = os.open(os.devnull, os.O_RDWR)
            self._owned.append(null)
            return None, null
        if spec == PIPE:
            read, write = os.pipe()
            parent, child = (write, read) if mode == "w" else (read, write)
            self._owned.append(child)
            end = open(parent, mode + ("" if text else "b"), buffering=-1 if text or mode == "r" else 0)  # noqa: SIM115
            return end, child
        return None, spec if isinstance(spec, int) else spec.fileno()

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, input=None, timeout: float | None = None):
        """(stdout, stderr) read to their ends, `input` written to stdin, as `subprocess.Popen` does."""
        if self._readers is None:
            self._readers = [
                threading.Thread(target=self._drain, args=(name, end), daemon=True)
                for name, end in (("stdout", self.stdout), ("stderr", self.stderr))
                if end is not None
            ]
            for reader in self._readers:
                reader.start()
            if self.stdin is not None:
                try:
                    if input:
                        self.stdin.write(input)
                    self.stdin.close()
                except BrokenPipeError:
                    pass
        self.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return self._read.get("stdout"), self._read.get("stderr")

    def _drain(self, name: str, end) -> None:
        self._read[name] = end.read()
        end.close()


def run(args, *, capture_output: bool = False, timeout: float | None = None, input=None, **kwargs):
    """`subprocess.run` through `Popen`: killed at `timeout`, as subprocess kills it."""
    if capture_output:
        kwargs.update(stdout=PIPE, stderr=PIPE)
    if input is not None:
        kwargs["stdin"] = PIPE
    process = Popen(args, **kwargs)
    try:
        out, err = process.communicate(input, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(args, process.returncode, out, err)
