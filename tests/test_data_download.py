"""Downloads are verified before use, archives extracted safely; offline gives one line naming the files."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import data_fixtures as fx
import pytest

from lottery.data import cifar10, cinic10, svhn
from lottery.data.archive import extract
from lottery.data.download import Remote, download
from lottery.errors import UserError

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet

PAYLOAD = bytes(range(256)) * 40


def _remote(payload: bytes = PAYLOAD) -> Remote:
    return Remote("https://example.org/file.bin", len(payload), hashlib.md5(payload).hexdigest())


def test_verified_download_lands_in_place(tmp_path, monkeypatch):
    requested = fx.serve(monkeypatch, PAYLOAD)
    path = download(_remote(), tmp_path / "d" / "file.bin", "put file.bin there")
    assert path.read_bytes() == PAYLOAD
    assert requested == ["https://example.org/file.bin"]
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


@pytest.mark.parametrize(
    ("served", "words"),
    [(PAYLOAD[:-100], "truncated"), (b"", "truncated"), (PAYLOAD[::-1], "MD5")],
    ids=["truncated", "empty", "altered"],
)
def test_bad_download_is_rejected_and_removed(tmp_path, monkeypatch, served, words):
    fx.serve(monkeypatch, served)
    with pytest.raises(UserError, match=words) as caught:
        download(_remote(), tmp_path / "file.bin", "put file.bin there")
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [], "nothing half-downloaded may stay behind"


def test_offline_download_names_the_manual_step(tmp_path, monkeypatch):
    fx.block_network(monkeypatch)
    with pytest.raises(UserError, match=r"cannot download .*file.bin.*put file.bin there"):
        download(_remote(), tmp_path / "file.bin", "put file.bin there")


def test_connection_dropped_mid_download(tmp_path, monkeypatch):
    class Dropping(io.BytesIO):
        def read(self, size=-1):
            raise ConnectionResetError("reset by peer")

    monkeypatch.setattr("urllib.request.urlopen", lambda url, **kw: Dropping())
    with pytest.raises(UserError, match="broke off"):
        download(_remote(), tmp_path / "file.bin", "hint")
    assert list(tmp_path.iterdir()) == []


def _official(monkeypatch, module, archive_bytes: bytes) -> None:
    monkeypatch.setattr(module, "ARCHIVE_SIZE", len(archive_bytes))
    monkeypatch.setattr(module, "ARCHIVE_MD5", hashlib.md5(archive_bytes).hexdigest())


def test_cifar10_downloads_verifies_and_extracts(tmp_path, monkeypatch):
    source = tmp_path / "source"
    expected = fx.write_cifar10(source, archive=True)
    archive_bytes = (source / "cifar10" / "cifar-10-python.tar.gz").read_bytes()
    _official(monkeypatch, cifar10, archive_bytes)
    requested = fx.serve(monkeypatch, archive_bytes)
    dataset = cifar10.load(tmp_path / "data")
    assert requested == [cifar10.URL]
    assert (tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz").read_bytes() == archive_bytes
    assert dataset.train.images.numpy().tobytes() == expected["train"][0].tobytes()


def test_cinic10_url_is_a_setting(tmp_path, monkeypatch):
    source = tmp_path / "source"
    fx.write_cinic10(source, per_class=1, splits=("train", "test"), archive=True)
    archive_bytes = (source / "cinic10" / "CINIC-10.tar.gz").read_bytes()
    _official(monkeypatch, cinic10, archive_bytes)
    monkeypatch.setenv("CINIC10_URL", "https://mirror.example/CINIC-10.tar.gz")
    requested = fx.serve(monkeypatch, archive_bytes)
    assert len(cinic10.load(tmp_path / "data").train) == 10
    assert requested == ["https://mirror.example/CINIC-10.tar.gz"]


def test_svhn_downloads_only_the_missing_split_from_its_setting(tmp_path, monkeypatch):
    source = tmp_path / "source"
    fx.write_svhn(source)
    fx.write_svhn(tmp_path / "data")
    (tmp_path / "data" / "svhn" / "test_32x32.mat").unlink()
    test_bytes = (source / "svhn" / "test_32x32.mat").read_bytes()
    name, _, _ = svhn.FILES["test"]
    monkeypatch.setitem(svhn.FILES, "test", (name, len(test_bytes), hashlib.md5(test_bytes).hexdigest()))
    monkeypatch.setenv("SVHN_URL", "https://mirror.example/svhn/")
    requested = fx.serve(monkeypatch, test_bytes)
    assert len(svhn.load(tmp_path / "data").test) == 20
    assert requested == ["https://mirror.example/svhn/test_32x32.mat"]


@pytest.mark.parametrize(
    ("loader", "names"),
    [
        (cifar10.load, ["cifar-10-python.tar.gz", "cifar-10-batches-py/", "CIFAR10_URL"]),
        (cinic10.load, ["CINIC-10.tar.gz", "train/, valid/, test/", "CINIC10_URL"]),
        (svhn.load, ["train_32x32.mat and test_32x32.mat", "SVHN_URL"]),
    ],
    ids=["cifar10", "cinic10", "svhn"],
)
def test_offline_without_files_is_one_line_naming_what_to_put_where(tmp_path, monkeypatch, loader, names):
    tried = fx.block_network(monkeypatch)
    with pytest.raises(UserError) as caught:
        loader(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and len(tried) == 1
    assert "cannot download" in message and str(tmp_path) in message
    assert "README.md, section Datasets" in message
    for name in names:
        assert name in message
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_placed_archive_is_rejected(tmp_path, monkeypatch, damage):
    fx.block_network(monkeypatch)
    fx.write_cifar10(tmp_path, archive=True)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2] if damage == "truncated" else b"")
    with pytest.raises(UserError, match="not a readable .tar.gz archive.*delete it") as caught:
        cifar10.load(tmp_path)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cifar10" / "cifar-10-batches-py").exists(), "no half-extracted folder may appear"
    assert [p.name for p in (tmp_path / "cifar10").iterdir()] == ["cifar-10-python.tar.gz"]


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.size = kind, target, 3 if kind == tarfile.REGTYPE else 0
    return member


@pytest.mark.parametrize(
    "member",
    [
        _member("../escaped.txt"),
        _member("/tmp/lottery-test-escaped.txt"),
        _member("train/link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("train/hard", tarfile.LNKTYPE, "/etc/passwd"),
        _member("train/fifo", tarfile.FIFOTYPE),
    ],
    ids=["parent", "absolute", "symlink", "hardlink", "fifo"],
)
def test_archive_members_cannot_escape_the_data_dir(tmp_path, member):
    """Only regular files and folders inside the tree, on every Python 3.11 (the "data" filter that would
    also refuse these arrived in 3.11.4)."""
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(b"bad") if member.isfile() else None)
    with pytest.raises(UserError, match=f"not a readable .*{member.name}.* is not a plain file or folder"):
        extract(archive, tmp_path / "dest", ["train"])
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/lottery-test-escaped.txt").exists()
    assert list((tmp_path / "dest").iterdir()) == [], "nothing extracted may stay behind"


def test_extracted_files_are_this_users_without_set_id_bits_or_write_access_for_others(tmp_path):
    archive = tmp_path / "official.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = _member("train/data.bin")
        member.mode, member.uid, member.uname = 0o6777, 4242, "someone"
        tar.addfile(member, io.BytesIO(b"abc"))
    extract(archive, tmp_path / "dest", ["train"])
    extracted = (tmp_path / "dest" / "train" / "data.bin").stat()
    assert oct(extracted.st_mode & 0o7777) == oct(0o755) and extracted.st_uid == os.getuid()
