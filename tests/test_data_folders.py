"""A DATA_DIR that is a file, read-only or unreadable ends in one line naming the path and the fix — where the
dataset's folder cannot be made, before training loads anything heavy or opens the store; files that can be
read but not cached are used all the same, with a warning."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import data_fixtures as fx
import pytest
from entry_points import REPO, refused

from lottery.data import cifar10, cinic10, svhn
from lottery.data.registry import data_folder
from lottery.errors import UserError
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet

LOADERS = {"cifar10": cifar10.load, "cinic10": cinic10.load, "svhn": svhn.load}
WRITERS = {"cifar10": fx.write_cifar10, "cinic10": fx.write_cinic10, "svhn": fx.write_svhn}
ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cinic10": "CINIC-10.tar.gz"}
FIX = "; set DATA_DIR (--data-dir) to a folder this user can read and write, with room for the dataset"


def _train(dataset: str, data_dir: Path) -> list[str]:
    return ["--dataset", dataset, "--data-dir", str(data_dir), "--trials", "1"]


def _refusal(dataset: str, data_dir: Path) -> str:
    with pytest.raises(UserError) as error:
        LOADERS[dataset](data_dir)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{dataset}: ") and FIX in message
    return message


@pytest.mark.drivers
def test_train_with_a_file_as_data_dir_is_one_line(tmp_path, store_uri):
    data_dir = tmp_path / "hostname"
    data_dir.write_text("host\n")
    line = refused("experiments.train", *_train("cifar10", data_dir)).stderr
    assert line.startswith(f"error: cifar10: {data_dir} is a file, not a folder{FIX}")
    assert data_dir.read_text() == "host\n"


@pytest.mark.parametrize("dataset", LOADERS)
@pytest.mark.parametrize("unusable", ["file", "read-only"])
def test_train_refuses_the_data_dir_as_its_loader_would_before_opening_the_store(
    tmp_path, monkeypatch, dataset, unusable
):
    data_dir, db = tmp_path / "data", tmp_path / "mlflow.db"
    if unusable == "file":
        data_dir.write_text("")
    else:
        data_dir.mkdir()
        fx.read_only(monkeypatch, data_dir)
    config = ExperimentConfig(dataset=dataset, trials=1)
    with pytest.raises(UserError) as error:
        run_experiment(config, str(data_dir), f"sqlite:///{db}", say=lambda line: None)
    assert str(error.value) == _refusal(dataset, data_dir)
    assert not db.exists(), "refused before the store is opened (and the executor imported)"


def test_digits_needs_no_data_folder(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert data_folder("digits", blocked / "data") is None
    assert data_folder("CIFAR-10", tmp_path / "data") == tmp_path / "data" / "cifar10"
    assert (tmp_path / "data" / "cifar10").is_dir()


# (the data dir, the file in a folder's place) under tmp_path
BLOCKED = {
    "data-dir": ("file", "file"),
    "data-dir-parent": ("file/data", "file"),
    "dataset-folder": ("data", "data/{dataset}"),
}


@pytest.mark.parametrize("dataset", LOADERS)
@pytest.mark.parametrize("blocked", BLOCKED)
def test_a_file_where_a_folder_belongs_is_named(tmp_path, dataset, blocked):
    data_dir, blocking = (tmp_path / path.format(dataset=dataset) for path in BLOCKED[blocked])
    blocking.parent.mkdir(exist_ok=True)
    blocking.write_text("")
    assert _refusal(dataset, data_dir).startswith(f"{dataset}: {blocking} is a file, not a folder;")


@pytest.mark.parametrize("dataset", LOADERS)
@pytest.mark.parametrize("folder_made", [False, True], ids=["no-dataset-folder", "empty-dataset-folder"])
def test_a_read_only_data_dir_without_the_files_fails_before_the_network(
    tmp_path, monkeypatch, dataset, folder_made
):
    if folder_made:
        (tmp_path / dataset).mkdir()
    requested = fx.serve(monkeypatch, b"never sent")
    fx.read_only(monkeypatch, tmp_path)
    message = _refusal(dataset, tmp_path)
    assert message.startswith(f"{dataset}: {tmp_path / dataset}") and "Read-only file system" in message
    assert requested == [], "nothing may be downloaded that cannot be stored"


@pytest.mark.parametrize("dataset", ARCHIVES)
def test_a_placed_archive_that_cannot_be_extracted_is_one_line(tmp_path, monkeypatch, dataset):
    WRITERS[dataset](tmp_path, archive=True)
    fx.read_only(monkeypatch, tmp_path)
    message = _refusal(dataset, tmp_path)
    assert f"{tmp_path / dataset}/.extracting-" in message and "Read-only file system" in message
    assert [path.name for path in (tmp_path / dataset).iterdir()] == [ARCHIVES[dataset]]


@pytest.mark.parametrize("dataset", LOADERS)
def test_files_in_a_read_only_data_dir_are_used_uncached(tmp_path, monkeypatch, caplog, dataset):
    expected = WRITERS[dataset](tmp_path)
    fx.read_only(monkeypatch, tmp_path)
    with caplog.at_level(logging.WARNING):
        fx.assert_loaded(LOADERS[dataset](tmp_path), dataset, expected)
    warnings = [record.getMessage() for record in caplog.records if "cannot cache" in record.getMessage()]
    assert len(warnings) == 2 and "Read-only file system" in warnings[0]
    assert not (tmp_path / dataset / "cache").exists()


def test_a_file_in_the_cache_folders_place_is_named_and_the_files_used(tmp_path, caplog):
    expected = fx.write_svhn(tmp_path)
    cache = tmp_path / "svhn" / "cache"
    cache.write_text("")
    with caplog.at_level(logging.WARNING):
        fx.assert_loaded(svhn.load(tmp_path), "svhn", expected)
    assert f"({cache} is a file, not a folder)" in caplog.text


def test_an_unreadable_split_folder_is_one_line(tmp_path, monkeypatch):
    fx.write_cinic10(tmp_path, per_class=1)
    unreadable = tmp_path / "cinic10" / "train"
    listed = Path.iterdir

    def iterdir(self):
        if self == unreadable:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return listed(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert _refusal("cinic10", tmp_path).startswith(f"cinic10: {unreadable}: Permission denied;")


def _read_only_command(folder: Path, command: list[str]) -> list[str]:
    """`command` run where `folder` is really read-only: by its permission bits, or, for root (who writes
    through those), by a read-only bind mount in a mount namespace of its own; skips where neither works."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return command
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    wrapped = ["unshare", "--mount", "sh", "-c", script, str(folder)]
    if not shutil.which("unshare") or subprocess.run([*wrapped, "true"], capture_output=True).returncode:
        pytest.skip("cannot make a folder read-only here (root without unshare --mount)")
    return [*wrapped, *command]


@pytest.mark.drivers
def test_train_with_a_read_only_data_dir_is_one_line(tmp_path, store_uri):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    command = _read_only_command(
        data_dir, [sys.executable, "-m", "experiments.train", *_train("svhn", data_dir)]
    )
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: svhn: {data_dir / 'svhn'}: Read-only file system{FIX}")
