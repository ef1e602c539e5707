"""`python -m experiments.train`'s options come from the hyperparameter dataclasses, where each default, help
text and bound is held once; `make train` passes only the variables the user set."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess

import pytest
from entry_points import REPO
from legacy_store import ANALYSED, ANALYSED_DIGEST, RESUMED, RESUMED_DIGEST, config_digest

from experiments import make_variables, train
from lottery.errors import UserError
from lottery.execution.ray_settings import RaySettings
from lottery.hparams import (
    MAX_EPOCHS,
    MAX_ROUNDS,
    MAX_TRIALS,
    ExperimentConfig,
    PruningHparams,
    TrainingHparams,
)
from lottery.hparams import config_digest as config_digest_of
from lottery.options import add_options, build, check_bounds, default_of, hparam, leaf_fields, option_name

FIELDS = {f.name: (f, kind) for f, kind in leaf_fields(ExperimentConfig)}


@pytest.fixture(autouse=True)
def no_environment_defaults(monkeypatch):
    for variable in ("DATA_DIR", "RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)


def test_the_defaults_are_the_dataclasses():
    invocation = train.parse([])
    assert invocation.config == ExperimentConfig()
    assert invocation.ray is None and invocation.data_dir == "data" and invocation.progress is None
    assert train.parse(["--executor", "ray"]).ray == RaySettings()


def test_no_option_holds_a_default_of_its_own():
    actions = {action.dest: action for action in train.parser()._actions}
    for name, (f, _) in FIELDS.items():
        assert actions[name].default == default_of(f), name
        assert type(actions[name].default) is type(default_of(f)), name
    for f in dataclasses.fields(RaySettings):
        assert actions[f.name].default == f.default, f.name


def changed(name: str, kind: type, default):
    """A valid value of a field other than its default, as typed on a command line."""
    if name == "dataset":
        return "cinic", "cinic10"
    if name == "model":
        return "toy", "toy"
    if name == "train_splits":
        return "train+valid", "train+valid"
    if name == "controls":
        return "signs,random", "signs,random"
    if default is None:  # a rate left to the model
        return "0.3", 0.3
    value = {int: default + 1, float: default / 2}[kind]
    return str(value), value


def test_every_field_has_an_option_that_reaches_the_config():
    argv, expected = ["--bf16"], {"bf16": True}
    for name, (f, kind) in FIELDS.items():
        if kind is not bool:
            typed, expected[name] = changed(name, kind, default_of(f))
            argv += [option_name(name), typed]
    assert set(expected) == set(FIELDS)
    config = train.parse(argv).config
    training = {f.name: expected[f.name] for f in dataclasses.fields(TrainingHparams)}
    pruning = {f.name: expected[f.name] for f in dataclasses.fields(PruningHparams)}
    top = {k: v for k, v in expected.items() if k not in training and k not in pruning}
    assert config == ExperimentConfig(
        **top, training=TrainingHparams(**training), pruning=PruningHparams(**pruning)
    )


def test_help_lists_every_option_with_its_default_and_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_info:
        train.parse(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    options = [a for a in train.parser()._actions if a.option_strings and a.dest != "help"]
    assert {option_name(name) for name in FIELDS} <= {a.option_strings[0] for a in options}
    for action in options:
        described = " ".join(action.help.replace("%%", "%").split())
        pattern = rf"{re.escape(action.option_strings[0])}(?:,? \S+)? {re.escape(described)} \(default: "
        assert described, f"{action.option_strings[0]} has no help"
        assert re.search(pattern + re.escape(f"{action.default})"), text), action.option_strings[0]
    for option, bound in (("--trials", f"1 to {MAX_TRIALS}"), ("--rounds", f"0 to {MAX_ROUNDS}")):
        assert re.search(rf"{option} \S+ [^-]*{bound}\b", text), option
    assert re.search(rf"--epochs \S+ [^-]*1 to {MAX_EPOCHS}\b", text)


def test_a_bool_field_is_a_flag():
    assert train.parse(["--bf16"]).config.training.bf16 is True
    assert train.parse([]).config.training.bf16 is False

    @dataclasses.dataclass(frozen=True)
    class Toy:
        """A toy."""

        off: bool = hparam(False, "off unless given")
        on: bool = hparam(True, "on unless --no-on")
        address: str | None = hparam(None, "somewhere")
        count: int = hparam(3, "how many", maximum=9)

    parser = argparse.ArgumentParser()
    add_options(parser, Toy, "toy")
    assert build(Toy, parser.parse_args([])) == Toy()
    assert build(Toy, parser.parse_args(["--off", "--no-on", "--address", "x", "--count", "4"])) == Toy(
        True, False, "x", 4
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--off", "yes"])
    assert "how many, at most 9" in parser.format_help()


def test_bounds_are_declared_once_and_checked_where_built():
    @dataclasses.dataclass(frozen=True)
    class Toy:
        """A toy."""

        count: int = hparam(3, "how many", minimum=1, maximum=9, label="COUNT")
        share: float = hparam(0.5, "a share", minimum=0, maximum=1, strict=True)
        floor: int = hparam(0, "at least zero", minimum=0, flags=("-F", "--floor"))

        def __post_init__(self) -> None:
            check_bounds(self)

    parser = argparse.ArgumentParser()
    add_options(parser, Toy, "toy")
    assert "how many, 1 to 9" in " ".join(parser.format_help().split())
    assert build(Toy, parser.parse_args(["--count", "9", "-F", "2"])) == Toy(9, 0.5, 2)
    for argv, message in (
        (["--count", "10"], "COUNT must lie in 1..9, got 10"),
        (["--share", "1"], "--share must lie in (0, 1), got 1.0"),
        (["--share", "nan"], "--share must lie in (0, 1), got nan"),
        (["--floor", "-1"], "-F must be >= 0, got -1"),
    ):
        with pytest.raises(UserError, match=re.escape(message)):
            build(Toy, parser.parse_args(argv))


def test_a_hyperparameter_added_since_keeps_older_digests():
    config = ExperimentConfig(trials=3)
    assert config.config_id() == ExperimentConfig(trials=5).config_id()  # trials do not identify it
    params = config.params()
    assert params["rewind_step"] == "0"
    assert config_digest_of(params) == config_digest_of(
        {k: v for k, v in params.items() if k != "rewind_step"}
    )
    params["rewind_step"] = "5"
    assert config_digest_of(params) != config.config_id()


def test_the_params_and_the_digest_stay_those_of_existing_stores():
    for argv, legacy, digest in (
        (["--trials", "3", "--rounds", "1", "--epochs", "1"], ANALYSED, ANALYSED_DIGEST),
        (["--trials", "1", "--rounds", "2", "--epochs", "1"], RESUMED, RESUMED_DIGEST),
    ):
        config = train.parse(["--dataset", "digits", *argv]).config
        params = config.params()
        assert params.pop("rewind_step") == "0"  # added since; at its default it leaves the digest alone
        assert list(params.items()) == list(legacy.items())  # names, order and string forms
        assert config.config_id() == config_digest(legacy) == digest
        rewound = train.parse(["--dataset", "digits", *argv, "--rewind-step", "10"]).config
        assert rewound.config_id() != digest
    assert ExperimentConfig(dataset="svhn").params()["dataset"] == "svhn"


def test_a_configuration_is_complete_when_built():
    """The rates left to the model hold the model's from the start: nothing downstream fills them in."""
    assert ExperimentConfig().params()["conv_rate"] == "0.1"
    conv6 = ExperimentConfig(model="conv6", pruning=PruningHparams(dense_rate=0.3)).pruning
    assert (conv6.conv_rate, conv6.dense_rate, conv6.output_rate) == (0.15, 0.3, 0.1)
    assert "controls" not in ExperimentConfig().params()  # an option of the run, not a hyperparameter


def test_the_rates_are_the_models_unless_set():
    conv6 = train.parse(["--model", "conv6"]).config.pruning
    assert (conv6.conv_rate, conv6.dense_rate, conv6.output_rate) == (0.15, 0.2, 0.1)
    conv2 = train.parse(["--model", "conv2", "--dense-rate", "0.3"]).config.pruning
    assert (conv2.conv_rate, conv2.dense_rate, conv2.output_rate) == (0.1, 0.3, 0.1)
    assert train.parse(["--model", "conv6", "--conv-rate", "0.1"]).config.pruning.conv_rate == 0.1


def test_an_unknown_control_is_refused_in_one_line():
    with pytest.raises(UserError, match="unknown control.*bogus.*random, reinit, signs, flipped"):
        train.parse(["--controls", "random,bogus"])


# `make train`'s variables and the options they become.
MAKE_OPTIONS = {
    "DATASET": "--dataset",
    "MODEL": "--model",
    "CONTROLS": "--controls",
    "TRIALS": "--trials",
    "ROUNDS": "--rounds",
    "EPOCHS": "--epochs",
    "BATCH_SIZE": "--batch-size",
    "LR": "--lr",
    "SEED": "--seed",
    "DATA_DIR": "--data-dir",
    "EXECUTOR": "--executor",
    "CPUS_PER_TRIAL": "--cpus-per-trial",
    "GPUS_PER_TRIAL": "--gpus-per-trial",
    "RAY_ADDRESS": "--ray-address",
}


def run_make(target: str, *args: str, python: str | None = None, **environment: str):
    """`make TARGET ARGS` (`-n`, printing what it would run, unless `python` is given to run it), with only
    `environment` set of its variables; the venv is taken as installed, whatever its age."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    skipped = {*MAKE_OPTIONS, "TRAIN_ARGS", "ANALYZE_ARGS"}
    env = {k: v for k, v in os.environ.items() if k not in skipped}
    env.update(environment, PYTHONDONTWRITEBYTECODE="1")
    command = ["make", "--no-print-directory", "--old-file=.venv/.installed", target, *args]
    if python is None:
        command.insert(1, "-n")
    else:
        command.append(f"PYTHON={python}")
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def make_train(*args: str, python: str | None = None, **environment: str) -> str:
    """What `make train ARGS` runs (`-n`: prints it): the variables' check, then the command."""
    result = run_make("train", *args, python=python, **environment)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_passes_no_option_when_no_variable_is_set():
    check, line = make_train().splitlines()
    assert check.split()[2:4] == ["experiments.make_variables", "train"]
    assert set(check.split()[4:]) == {*MAKE_OPTIONS, "TRAIN_ARGS"}  # the variables it reads, checked against
    assert line.split()[-1] == "experiments.train" and "--" not in line


def test_make_passes_only_the_variables_set():
    line = make_train("TRIALS=3")
    assert '--trials "$TRIALS"' in line
    assert all(option not in line for option in set(MAKE_OPTIONS.values()) - {"--trials"})
    line = make_train("DATASET=cifar10", EPOCHS="2")  # the environment counts too
    assert '--dataset "$DATASET"' in line and '--epochs "$EPOCHS"' in line and "--trials" not in line


def test_make_passes_every_variable_set():
    line = make_train(**{variable: "1" for variable in MAKE_OPTIONS})
    for variable, option in MAKE_OPTIONS.items():
        assert f'{option} "${variable}"' in line


def test_make_passes_values_as_typed():
    value = '3\'; echo "x" `x` && ls'
    out = make_train(f"TRIALS={value}", python="/bin/echo", SEED="0")
    assert out.splitlines()[-1].endswith(f"experiments.train --trials {value} --seed 0")


@pytest.mark.parametrize(
    "given, meant_names",
    [
        ("EPOCH", ["EPOCHS"]),
        ("ROUND", ["ROUNDS"]),
        ("TRIAL", ["TRIALS"]),
        ("DATASETS", ["DATASET"]),
        ("BATCH", ["BATCH_SIZE"]),
        ("batch-size", ["BATCH_SIZE"]),
        ("LEARNING_RATE", ["LR"]),
        ("EPOHCS", ["EPOCHS"]),
        ("NUM_TRIALS", ["TRIALS"]),
        ("DATA", ["DATASET", "DATA_DIR"]),
        ("TRAIN_ARG", ["TRAIN_ARGS"]),
        *((other, []) for other in ("MLFLOW_TRACKING_URI", "PYTHON", "HOST", "PORT", "WORKERS", "GPU")),
        *(
            (other, [])
            for other in ("CUDA_VISIBLE_DEVICES", "ANALYZE_ARGS", "PYTEST_ARGS", "TORCH_INDEX_URL")
        ),
    ],
)
def test_a_variable_looks_like_the_ones_it_misspells(given, meant_names):
    assert make_variables.meant(given, [*MAKE_OPTIONS, "TRAIN_ARGS"]) == meant_names


def test_variables_not_read_but_like_ours_are_refused_in_one_line(monkeypatch):
    own = [*MAKE_OPTIONS, "TRAIN_ARGS"]
    for name, value in (
        ("ROUND", "1"),
        ("EPOCH", "1"),
        ("DATA", "x"),
        ("MLFLOW_TRACKING_URI", "sqlite:///a"),
    ):
        monkeypatch.setenv(name, value)
    make_variables.check("train", ["DATASET", "TRIALS", "MLFLOW_TRACKING_URI", "PYTHON"], own)  # all fine
    with pytest.raises(UserError) as error:
        make_variables.check("train", ["DATASET", "ROUND", "EPOCH", "MLFLOW_TRACKING_URI"], own)
    assert str(error.value) == "make train has no variables EPOCH, ROUND: did you mean EPOCHS=1 ROUNDS=1?"
    with pytest.raises(
        UserError, match=r"^make train has no variable DATA: did you mean DATASET=x or DATA_DIR=x\?$"
    ):
        make_variables.check("train", ["DATA"], own)
    with pytest.raises(
        UserError, match=r"^make analyze does not read EPOCH=1: its options go in ANALYZE_ARGS$"
    ):
        make_variables.check("analyze", ["EPOCH"], ["ANALYZE_ARGS"], own, "its options go in ANALYZE_ARGS")


@pytest.mark.drivers
def test_make_train_refuses_a_misspelt_variable_before_anything_runs():
    """The issue's command: make ignored ROUND and EPOCH and started the full protocol."""
    result = run_make("train", "DATASET=digits", "TRIALS=1", "ROUND=1", "EPOCH=1", python=".venv/bin/python")
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert (
        result.stderr.splitlines()[0]
        == "error: make train has no variables EPOCH, ROUND: did you mean EPOCHS=1 ROUNDS=1?"
    )
    result = run_make("analyze", "DATASETS=digits", python=".venv/bin/python")
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr.startswith("error: make analyze does not read DATASETS=digits: its options go in ")
    assert run_make("analyze", "ANALYSE_ARGS=--pairs 5", python=".venv/bin/python").stderr.startswith(
        "error: make analyze has no variable ANALYSE_ARGS: did you mean ANALYZE_ARGS=--pairs 5?"
    )


def make_in_copy(directory, *args: str, **environment: str) -> str:
    """The output of `make ARGS` in `directory`, given a copy of the Makefile and pyproject.toml."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, directory / name)
    env = {k: v for k, v in os.environ.items() if k != "TORCH_INDEX_URL"}
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=directory,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def dry_run(directory, *args: str, **environment: str) -> str:
    """What `make ARGS` would run in `directory` (`make -n`)."""
    return make_in_copy(directory, "-n", *args, **environment)


def test_the_tests_start_make_as_a_users_shell_does(tmp_path):
    """`make test` exports none of the variables that `make server`, `make ui` and `make train` read (nor
    make's own flags reach a test): the make commands the tests start keep their defaults, e.g. `make ui`'s
    one server process, not `make server`'s two."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    installed = ("--old-file=.venv/.installed", "--old-file=.venv/.installed-dev")
    printed = make_in_copy(tmp_path, "-s", *installed, "test", "PYTHON=sh -c env --")  # the test recipe's env
    exported = {line.split("=", 1)[0] for line in printed.splitlines() if "=" in line}
    assert "PYTEST_ARGS" in exported  # what the recipe itself reads
    assert not exported & {*MAKE_OPTIONS, "HOST", "PORT", "WORKERS", "BACKEND_STORE_URI", "MAKE_COMMAND_LINE"}
    assert not {"MAKEFLAGS", "MAKELEVEL"} & os.environ.keys()


def test_train_analyze_and_ui_install_the_runtime_only_test_and_lint_the_dev_extra_too(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for target in ("train", "analyze", "ui", "install"):
        out = dry_run(tmp_path, target)
        assert "pip install --quiet -e .\n" in out and "[dev]" not in out and "--index-url" not in out, out
    for target in ("test", "lint", "install-dev"):
        assert "pip install --quiet -e '.[dev]'" in dry_run(tmp_path, target)


def test_torch_from_another_index_is_remembered_for_later_installs(tmp_path):
    """TORCH_INDEX_URL (CPU-only wheels) installs torch from that index first; a later install without the
    variable (the dev extra for `make test`) takes torchvision from the same index, keeping that torch."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    cpu = "https://download.pytorch.org/whl/cpu"
    out = dry_run(tmp_path, "install", TORCH_INDEX_URL=cpu).splitlines()
    torch_step = '.venv/bin/python -m pip install --quiet torch --index-url "$TORCH_INDEX_URL"'
    assert out.index(torch_step) < out.index(".venv/bin/python -m pip install --quiet -e .")
    assert """printf '%s' "$TORCH_INDEX_URL" > .venv/torch-index""" in out
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv/torch-index").write_text(cpu)  # what that install leaves
    later = dry_run(tmp_path, "install-dev")
    assert '--quiet torchvision --index-url "$TORCH_INDEX_URL"' in later
