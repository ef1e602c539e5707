"""`.npz` files read back without pickle; anything else in their place is one line saying what it holds."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lottery.errors import UserError
from lottery.tracking.arrays import load_arrays, save_arrays

NAMES = ["conv1", "output"]
ARRAYS = {"conv1": np.arange(6, dtype=np.float32).reshape(2, 3), "output": np.ones(4, dtype=np.float32)}


def _refusal(path: Path, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        load_arrays(path, NAMES, np.float32, **kwargs)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and path.name in message
    assert message.endswith("re-run the trial that produced it")
    return message


def _npy(path: Path) -> None:
    with path.open("wb") as handle:  # np.save appends ".npy" to a name, not to an open file
        np.save(handle, ARRAYS["conv1"])


@pytest.mark.parametrize(
    ("write", "contents"),
    [
        (_npy, "it holds a single .npy array"),
        (lambda path: path.write_text("<html>502 Bad Gateway</html>\n"), "it holds text"),
        (lambda path: path.write_bytes(pickle.dumps(ARRAYS)), "it holds pickled Python data"),
        (lambda path: path.write_bytes(b""), "it is empty"),
        (lambda path: path.write_bytes(bytes(range(256))), "it holds binary data"),
    ],
    ids=["npy", "text", "pickle", "empty", "binary"],
)
def test_a_file_that_is_no_npz_archive_says_what_it_holds(tmp_path, write, contents):
    path = tmp_path / "mask.npz"
    write(path)
    message = _refusal(path, source="run t (abc)")
    assert message.startswith(f"run t (abc): mask.npz is corrupt: not an .npz archive ({contents});")


def test_a_zip_that_holds_no_arrays_is_no_npz_archive(tmp_path):
    path = tmp_path / "mask.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name in NAMES:
            archive.writestr(f"{name}.npy", b"not an array")
    assert "not an .npz archive (its member 'conv1' is no array)" in _refusal(path)


class _Tripwire:
    """Touches `marker` when unpickled: proof that loading ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_pickled_objects_inside_an_npz_are_refused_unread(tmp_path):
    path, marker = tmp_path / "mask.npz", tmp_path / "unpickled"
    np.savez(path, **{name: np.array([_Tripwire(marker)], dtype=object) for name in NAMES})
    message = _refusal(path)
    assert "Object arrays cannot be loaded when allow_pickle=False" in message
    assert "not an .npz archive" not in message
    assert not marker.exists()


def test_a_truncated_archive_is_corrupt(tmp_path):
    path = save_arrays(tmp_path / "mask.npz", ARRAYS)
    path.write_bytes(path.read_bytes()[:100])
    assert "mask.npz is corrupt or unreadable" in _refusal(path)


def test_arrays_round_trip(tmp_path):
    loaded = load_arrays(save_arrays(tmp_path / "d" / "mask.npz", ARRAYS), NAMES, np.float32)
    assert list(loaded) == NAMES and all(np.array_equal(loaded[n], ARRAYS[n]) for n in NAMES)


def test_masks_and_integers_are_deflated_and_weights_stored(tmp_path):
    arrays = {
        "conv1": np.linspace(-1, 1, 64, dtype=np.float32).reshape(4, 16),
        "mask": np.arange(64).reshape(4, 16) % 3 == 0,
        "index": np.arange(64, dtype=np.int64),
    }
    path = save_arrays(tmp_path / "ticket.npz", arrays)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["conv1.npy", "mask.npy", "index.npy"]
        kinds = [archive.getinfo(f"{name}.npy").compress_type for name in arrays]
    assert kinds == [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED]
    with np.load(path, allow_pickle=False) as archive:
        assert all(np.array_equal(archive[n], a) and archive[n].dtype == a.dtype for n, a in arrays.items())
    assert all(np.array_equal(load_arrays(path, None)[n], a) for n, a in arrays.items())
