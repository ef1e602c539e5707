"""The decode-once cache: round trip, staleness, corruption, half-written caches; rebuilt through a loader."""

from __future__ import annotations

import json
import logging
import os

import data_fixtures as fx
import numpy as np
import pytest
import torch

from lottery.data import svhn
from lottery.data.cache import SplitCache, source_fingerprint

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 7).astype(np.int64)


def test_round_trip_keeps_bytes_and_digest(tmp_path, arrays):
    cache = SplitCache(tmp_path / "cache")
    written = cache.write("train", *arrays, fingerprint="f1")
    read = cache.read("train", "f1")
    assert read is not None
    assert read.images.dtype == torch.uint8 and read.images.shape == (7, 3, 32, 32)
    assert read.labels.dtype == torch.int64
    np.testing.assert_array_equal(read.images.numpy(), arrays[0])
    np.testing.assert_array_equal(read.labels.numpy(), arrays[1])
    assert read.digest() == written.digest()
    assert json.loads((tmp_path / "cache" / "train.json").read_text())["digest"] == written.digest()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


def test_cache_files_are_plain_memory_mappable_npy(tmp_path, arrays):
    SplitCache(tmp_path).write("test", *arrays, fingerprint="f")
    mapped = np.load(tmp_path / "test.images.npy", mmap_mode="r", allow_pickle=False)
    assert isinstance(mapped, np.memmap) and mapped.shape == (7, 3, 32, 32)


def test_missing_cache_is_none_without_warning(tmp_path, caplog):
    assert SplitCache(tmp_path).read("train", "f") is None
    assert not caplog.records


def test_changed_sources_make_the_cache_stale(tmp_path, arrays, caplog):
    cache = SplitCache(tmp_path)
    cache.write("train", *arrays, fingerprint="old")
    with caplog.at_level(logging.WARNING):
        assert cache.read("train", "new") is None
    assert "stale" in caplog.text


def test_absent_sources_accept_an_intact_cache(tmp_path, arrays):
    cache = SplitCache(tmp_path)
    cache.write("train", *arrays, fingerprint="old")
    assert cache.read("train", None) is not None


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: _flip_last_byte(d / "train.images.npy"), "digest"),
        (lambda d: _truncate(d / "train.images.npy"), "corrupt"),
        (lambda d: (d / "train.labels.npy").write_bytes(b""), "corrupt"),
        (lambda d: (d / "train.json").write_text("{not json"), "manifest"),
        (
            lambda d: (d / "train.json").write_text(
                json.dumps({"format": 0, "count": 7, "digest": "x", "source": "f"})
            ),
            "format",
        ),
    ],
    ids=["flipped-byte", "truncated-images", "empty-labels", "garbled-manifest", "old-format"],
)
def test_damaged_cache_is_rejected_with_a_reason(tmp_path, arrays, caplog, damage, reason):
    cache = SplitCache(tmp_path)
    cache.write("train", *arrays, fingerprint="f")
    damage(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert cache.read("train", "f") is None
    assert reason in caplog.text and "rebuilding" in caplog.text


def test_arrays_without_a_manifest_never_count_as_a_cache(tmp_path, arrays):
    cache = SplitCache(tmp_path)
    cache.write("train", *arrays, fingerprint="f")
    (tmp_path / "train.json").unlink()  # as if the writer died before the manifest
    assert cache.read("train", "f") is None


def test_fingerprint_follows_names_sizes_and_times(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"123")
    first = source_fingerprint([a], tmp_path)
    assert source_fingerprint([a], tmp_path) == first
    os.utime(a, ns=(1, 1))
    assert source_fingerprint([a], tmp_path) != first


def _count_decodes(monkeypatch, cls) -> list[str]:
    calls: list[str] = []
    original = cls.decode

    def counting(self, split):
        calls.append(split)
        return original(self, split)

    monkeypatch.setattr(cls, "decode", counting)
    return calls


def test_loader_decodes_once_and_rebuilds_a_corrupt_cache(tmp_path, monkeypatch, caplog):
    fx.write_svhn(tmp_path)
    calls = _count_decodes(monkeypatch, svhn.Svhn)
    first = svhn.load(tmp_path)
    assert calls == ["train", "test"]
    svhn.load(tmp_path)
    assert calls == ["train", "test"], "a valid cache must not be decoded again"
    _flip_last_byte(tmp_path / "svhn" / "cache" / "test.images.npy")
    with caplog.at_level(logging.WARNING):
        rebuilt = svhn.load(tmp_path)
    assert calls == ["train", "test", "test"]
    assert "corrupt" in caplog.text
    assert rebuilt.test.digest() == first.test.digest()
