"""SVHN from miniature `.mat` files: axis order of X, label 10 → 0, the cache standing in for the files."""

from __future__ import annotations

import logging

import data_fixtures as fx
import numpy as np
import pytest
import scipy.io

from lottery.data import svhn
from lottery.data.registry import load_dataset
from lottery.errors import UserError

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet


def test_mat_files_decode_to_chw_images_and_labels(tmp_path):
    expected = fx.write_svhn(tmp_path)
    dataset = load_dataset("svhn", tmp_path)
    fx.assert_loaded(dataset, "svhn", expected)


def test_x_is_height_width_channel_image_and_label_10_is_digit_0(tmp_path):
    fx.write_svhn(tmp_path)
    mat = scipy.io.loadmat(tmp_path / "svhn" / "train_32x32.mat")
    dataset = svhn.load(tmp_path)
    images, labels = dataset.train.images.numpy(), dataset.train.labels.numpy()
    for y, x, c, n in [(0, 0, 0, 0), (5, 7, 2, 3), (31, 0, 1, 29)]:
        assert images[n, c, y, x] == mat["X"][y, x, c, n]
    tens = mat["y"][:, 0] == 10
    assert tens.any() and (labels[tens] == 0).all()
    np.testing.assert_array_equal(labels[~tens], mat["y"][~tens, 0])
    assert labels.min() >= 0 and labels.max() <= 9


def test_cache_stands_in_for_the_mat_files(tmp_path, monkeypatch):
    fx.write_svhn(tmp_path)
    first = svhn.load(tmp_path)
    for split in ("train", "test"):
        (tmp_path / "svhn" / f"{split}_32x32.mat").unlink()
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: pytest.fail(".mat parsed again"))
    assert svhn.load(tmp_path).digest() == first.digest()


def test_size_differing_from_the_official_warns(tmp_path, caplog):
    fx.write_svhn(tmp_path)
    with caplog.at_level(logging.WARNING):
        svhn.load(tmp_path)
    assert "svhn train split: 30 images where the official one has 73,257" in caplog.text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not a readable MATLAB v5 file"),
        ("truncate", "not a readable MATLAB v5 file"),
        (
            {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [1]], np.uint8)},
            "labels 0..1, expected 1..10",
        ),
        ({"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.array([[1], [2]], np.uint8)}, "uint8 32×32×3×N"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8)}, "X and y"),
    ],
    ids=["empty", "truncated", "label-0", "shape", "no-y"],
)
def test_malformed_mat_is_a_user_error(tmp_path, content, words):
    fx.write_svhn(tmp_path)
    path = tmp_path / "svhn" / "test_32x32.mat"
    if content == "truncate":
        path.write_bytes(path.read_bytes()[:3000])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        scipy.io.savemat(path, content)
    with pytest.raises(UserError, match=words) as caught:
        svhn.load(tmp_path)
    assert "test_32x32.mat is not a well-formed svhn file" in str(caught.value)
