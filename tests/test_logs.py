"""Training output fit for a file: progress bars only on a terminal that has a size (or when forced on), else
one line per round and one per epoch, with neither escape codes nor carriage returns. The bars read like
the protocol: one per round, `round r/R · epoch e/E`, cleared when the round ends."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import preloaded
import pytest
from entry_points import REPO

from experiments import train
from lottery.execution.experiment import run_experiment
from lottery.execution.output import progress_bars
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams

ROUNDS = 1  # round 0 and a pruning round: the bars and lines of one round after another
CONFIG = ExperimentConfig(
    dataset="digits",
    trials=1,
    training=TrainingHparams(epochs=2),
    pruning=PruningHparams(rounds=ROUNDS),
    model="toy",
)


class Stream(io.StringIO):
    """A stream that is a terminal or not."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_bars_show_on_a_terminal_unless_forced_off_and_elsewhere_only_when_forced_on(monkeypatch):
    assert progress_bars(None, Stream(True)) is True
    assert progress_bars(None, Stream(False)) is False
    assert progress_bars(True, Stream(False)) is True
    assert progress_bars(False, Stream(True)) is False
    closed = io.StringIO()
    closed.close()
    assert progress_bars(None, closed) is False  # isatty raises on a closed stream
    assert progress_bars(None, object()) is False  # nor has every stream an isatty
    for terminal in (True, False):
        monkeypatch.setattr(sys, "stdout", Stream(terminal))
        assert progress_bars(None) is terminal  # stdout: where Lightning's bars and the lines go


@pytest.mark.parametrize(
    "columns, lines, bars", [(80, 24, True), (0, 0, False), (80, 0, False), (0, 24, False)]
)
def test_a_terminal_of_no_size_gets_lines_not_bars(columns, lines, bars):
    """tqdm shows nothing on a terminal of zero columns or lines (`script` run without a terminal): there,
    the line per epoch."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    with os.fdopen(leader, "rb"), os.fdopen(follower, "w") as terminal:
        assert progress_bars(None, terminal) is bars
        assert progress_bars(True, terminal) is True


def screen(out: str) -> list[str]:
    """What a terminal shows after `out`: each `\r` returns to the line's start, where the next characters
    overwrite it (the bar's clearing writes spaces); lines left blank are dropped."""
    lines, line, column = [], [], 0
    for char in out + "\n":
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            line[column : column + 1] = [char]
            column += 1
    return [text for text in lines if text]


def bar_descriptions(out: str) -> list[str]:
    """The descriptions the bars showed, in order, each once in a row."""
    shown = []
    for frame in re.split(r"[\r\n]", out):
        if "%|" in frame:
            description = frame.partition(":")[0].strip()
            if not shown or shown[-1] != description:
                shown.append(description)
    return shown


def test_the_progress_flag_is_auto_unless_given():
    assert train.parse([]).progress is None
    assert train.parse(["--progress-bar"]).progress is True
    assert train.parse(["--no-progress-bar"]).progress is False


@pytest.mark.parametrize(
    "forced, terminal, bars",
    [(None, False, False), (None, True, True), (True, False, True), (False, True, False)],
)
def test_a_run_shows_bars_or_else_a_line_per_epoch(
    forced, terminal, bars, store_uri, tiny_data, capsys, monkeypatch
):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    run_experiment(CONFIG, "unused", store_uri, show_progress=forced)
    out = capsys.readouterr().out
    assert ("\r" in out) is bars and ("\x1b" in out) is False
    lines = [line for line in out.splitlines() if " · epoch " in line or " · sparsity " in line]
    if bars:
        assert "train loss" not in out  # no line per epoch: the bars show the epochs
        rounds = [
            f"round {r}/{ROUNDS} · {what}"
            for r in range(ROUNDS + 1)
            for what in ("epoch 1/2", "epoch 2/2", "testing")
        ]
        assert bar_descriptions(out) == [
            *rounds,
            "random ticket · epoch 1/2",
            "random ticket · epoch 2/2",
            "random ticket · testing",
        ]  # the IMP rounds, the control
        assert "Epoch" not in out and "DataLoader" not in out  # Lightning's own bars
        shown = screen(out)
        assert not any("%|" in line for line in shown), shown  # every bar cleared
        assert [line.split(" · ")[1] for line in shown if " · sparsity " in line] == [
            f"round {r}/{ROUNDS}" for r in range(ROUNDS + 1)
        ]
        return
    for line in lines:
        assert re.fullmatch(r".* · (epoch \d/2 · train loss \d\.\d{4} · \d+\.\ds|sparsity .*)", line), line
    trial = "digits trial 1/1"
    assert [re.sub(r"( · train loss| · sparsity).*", r"\1", line) for line in lines] == [
        *(
            f"{trial} · round {r}/{ROUNDS} · {what}"
            for r in range(ROUNDS + 1)
            for what in ("epoch 1/2 · train loss", "epoch 2/2 · train loss", "sparsity")
        ),
        f"{trial} · random ticket · epoch 1/2 · train loss",
        f"{trial} · random ticket · epoch 2/2 · train loss",
    ]


REDIRECTED = ("--dataset", "digits", "--trials", "2", "--rounds", "2", "--epochs", "1", "--model", "toy")


@pytest.mark.drivers
def test_a_log_redirected_to_a_file_is_plain_and_small(store_uri, tmp_path):
    """The real command, stdout and stderr into one file, as nohup or Slurm do (the store from
    $MLFLOW_TRACKING_URI)."""
    log = tmp_path / "train.log"
    with log.open("wb") as file:
        result = preloaded.run(
            [sys.executable, "-m", "experiments.train", *REDIRECTED],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=file,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    data = log.read_bytes()
    text = data.decode()
    assert result.returncode == 0, text
    assert b"\x1b" not in data and b"\r" not in data, text
    lines = text.splitlines()
    for trial in (1, 2):
        rounds = [
            line
            for line in lines
            if line.startswith(f"digits trial {trial}/2 · round ") and "sparsity" in line
        ]
        assert [line.split(" · ")[1] for line in rounds] == ["round 0/2", "round 1/2", "round 2/2"], text
        beats = [
            line for line in lines if line.startswith(f"digits trial {trial}/2 · ") and " · epoch " in line
        ]
        assert len(beats) == 4, text  # three rounds and the random ticket, one epoch each
    assert "2 trial(s) trained by this command" in text
    browse = [
        line
        for line in lines
        if line.startswith(f"browse it (after `MLFLOW_TRACKING_URI={store_uri} make ui`): http://")
    ]
    assert len(browse) == 1 and browse[0].endswith("/runs?workflowType=machine_learning"), text
    assert len(data) < 3200, text  # about 1.6 kB: 21 lines of ~70 bytes
