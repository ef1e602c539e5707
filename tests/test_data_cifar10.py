"""CIFAR-10 from miniature official batches: a row's layout, labels, archive, cache reuse, hostile pickles."""

from __future__ import annotations

import logging
import os
import pickle

import data_fixtures as fx
import numpy as np
import pytest

from lottery.data import cifar10
from lottery.data.registry import load_dataset
from lottery.errors import UserError

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet


def _batches(data_dir):
    return data_dir / "cifar10" / "cifar-10-batches-py"


def test_batches_decode_to_chw_images_and_labels(tmp_path):
    expected = fx.write_cifar10(tmp_path)
    dataset = load_dataset("cifar10", tmp_path)
    fx.assert_loaded(dataset, "cifar10", expected)
    assert (len(dataset.train), len(dataset.test)) == (20, 10)


def test_a_row_is_red_then_green_then_blue_plane(tmp_path):
    fx.write_cifar10(tmp_path)
    with (_batches(tmp_path) / "data_batch_1").open("rb") as f:
        rows = pickle.load(f, encoding="bytes")[b"data"]
    images = cifar10.load(tmp_path).train.images.numpy()
    for channel, y, x in [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 1, 2), (2, 31, 30)]:
        np.testing.assert_array_equal(images[:4, channel, y, x], rows[:, channel * 1024 + y * 32 + x])


def test_placed_archive_is_extracted_and_read(tmp_path):
    expected = fx.write_cifar10(tmp_path, archive=True)
    dataset = cifar10.load(tmp_path)
    assert (_batches(tmp_path) / "test_batch").is_file()
    np.testing.assert_array_equal(dataset.test.images.numpy(), expected["test"][0])


def test_decoded_once_then_read_from_cache(tmp_path, monkeypatch):
    fx.write_cifar10(tmp_path)
    first = cifar10.load(tmp_path)
    monkeypatch.setattr(cifar10.Cifar10, "decode", lambda self, split: pytest.fail("decoded again"))
    again = cifar10.load(tmp_path)
    assert again.digest() == first.digest()


def test_replaced_batches_make_the_cache_stale(tmp_path):
    fx.write_cifar10(tmp_path)
    first = cifar10.load(tmp_path)
    batch = _batches(tmp_path) / "test_batch"
    content = pickle.loads(batch.read_bytes(), encoding="bytes")
    content[b"labels"] = [(label + 1) % 10 for label in content[b"labels"]]
    batch.write_bytes(pickle.dumps(content, protocol=2))
    os.utime(batch, ns=(1, 1))  # a different copy, whatever the clock's resolution
    again = cifar10.load(tmp_path)
    np.testing.assert_array_equal(again.test.labels.numpy(), (first.test.labels.numpy() + 1) % 10)


def test_size_differing_from_the_official_warns(tmp_path, caplog):
    fx.write_cifar10(tmp_path)
    with caplog.at_level(logging.WARNING):
        cifar10.load(tmp_path)
    assert "cifar10 train split: 20 images where the official one has 50,000" in caplog.text
    assert "cifar10 test split: 10 images where the official one has 10,000" in caplog.text


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_batch_pickle_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fx.write_cifar10(tmp_path)
    (_batches(tmp_path) / "data_batch_3").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(UserError, match=r"data_batch_3 is not a well-formed cifar10 file .*refusing to load"):
        cifar10.load(tmp_path)
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize(
    ("batch", "words"),
    [
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}, "labels 0..11"),
        ({b"data": np.zeros((2, 1000), np.uint8), b"labels": [0, 1]}, "N×3072"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
        ({"data": np.zeros((2, 3072), np.uint8)}, "a dict with"),
    ],
    ids=["label-range", "row-length", "label-count", "keys"],
)
def test_malformed_batch_is_a_user_error(tmp_path, batch, words):
    fx.write_cifar10(tmp_path)
    (_batches(tmp_path) / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UserError, match=words):
        cifar10.load(tmp_path)


def test_incomplete_folder_beside_an_archive_is_named(tmp_path):
    fx.write_cifar10(tmp_path, archive=True)
    _batches(tmp_path).mkdir()
    with pytest.raises(
        UserError, match="lacks cifar-10-batches-py/data_batch_1.*remove the incomplete folder"
    ):
        cifar10.load(tmp_path)
