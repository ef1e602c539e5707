"""CINIC-10 from a miniature PNG tree: RGB conversion, alphabetical labels, only the needed splits decoded."""

from __future__ import annotations

import logging

import data_fixtures as fx
import numpy as np
import pytest
from PIL import Image

from lottery.data import cinic10
from lottery.data.registry import load_dataset
from lottery.errors import UserError

pytestmark = pytest.mark.usefixtures("no_network")  # no test reaches the internet


def test_png_tree_decodes_to_rgb_images_with_alphabetical_labels(tmp_path):
    expected = fx.write_cinic10(tmp_path)
    dataset = load_dataset("cinic", tmp_path)
    fx.assert_loaded(dataset, "cinic10", expected)
    assert dataset.train.labels.tolist() == [label for label in range(10) for _ in range(3)]


def test_greyscale_png_becomes_three_equal_channels(tmp_path):
    fx.write_cinic10(tmp_path)
    grey_path = tmp_path / "cinic10" / "train" / "cat" / "0000.png"
    with Image.open(grey_path) as image:
        assert image.mode == "L"
        grey = np.asarray(image)
    images = cinic10.load(tmp_path).train.images.numpy()
    cat_first = fx.CLASSES.index("cat") * 3
    for channel in range(3):
        np.testing.assert_array_equal(images[cat_first, channel], grey)


def test_valid_is_decoded_only_for_train_plus_valid(tmp_path):
    expected = fx.write_cinic10(tmp_path)
    cache = tmp_path / "cinic10" / "cache"
    cinic10.load(tmp_path)
    assert sorted(p.name for p in cache.glob("*.json")) == ["test.json", "train.json"]
    both = cinic10.load(tmp_path, train_splits="train+valid")
    assert (cache / "valid.json").exists()
    np.testing.assert_array_equal(
        both.train.images.numpy(), np.concatenate([expected["train"][0], expected["valid"][0]])
    )
    assert len(both.test) == 30


def test_runs_without_valid_folder_when_it_is_not_needed(tmp_path):
    fx.write_cinic10(tmp_path, splits=("train", "test"))
    assert len(cinic10.load(tmp_path).train) == 30


def test_unknown_training_split_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="choose train or train\\+valid"):
        cinic10.load(tmp_path, train_splits="valid")


def test_wrapped_archive_is_extracted(tmp_path):
    expected = fx.write_cinic10(tmp_path, per_class=1, archive=True, wrap="CINIC-10")
    dataset = cinic10.load(tmp_path)
    assert (tmp_path / "cinic10" / "test" / "truck").is_dir()
    assert not list((tmp_path / "cinic10").glob(".extracting-*"))
    np.testing.assert_array_equal(dataset.test.images.numpy(), expected["test"][0])


def test_size_differing_from_the_official_warns(tmp_path, caplog):
    fx.write_cinic10(tmp_path, per_class=1, splits=("train", "test"))
    with caplog.at_level(logging.WARNING):
        cinic10.load(tmp_path)
    assert "cinic10 test split: 10 images where the official one has 90,000" in caplog.text


def test_decoded_once_then_read_from_cache(tmp_path, monkeypatch):
    fx.write_cinic10(tmp_path, per_class=1, splits=("train", "test"))
    first = cinic10.load(tmp_path)
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("PNG decoded again"))
    assert cinic10.load(tmp_path).digest() == first.digest()


def test_added_image_makes_the_cache_stale(tmp_path):
    fx.write_cinic10(tmp_path, per_class=1, splits=("train", "test"))
    assert len(cinic10.load(tmp_path).train) == 10
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(
        tmp_path / "cinic10" / "train" / "dog" / "extra.png"
    )
    assert len(cinic10.load(tmp_path).train) == 11


def test_foreign_class_folder_is_a_user_error(tmp_path):
    fx.write_cinic10(tmp_path, per_class=1, splits=("train", "test"))
    (tmp_path / "cinic10" / "test" / "unicorn").mkdir()
    with pytest.raises(UserError, match="class folders .*unicorn"):
        cinic10.load(tmp_path)


def test_wrong_image_size_is_a_user_error(tmp_path):
    fx.write_cinic10(tmp_path, per_class=1, splits=("train", "test"))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "cinic10" / "test" / "ship" / "0000.png")
    with pytest.raises(UserError, match="0000.png is not a well-formed cinic10 file .*64×64"):
        cinic10.load(tmp_path)
