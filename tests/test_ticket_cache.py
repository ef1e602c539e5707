"""The ticket cache: one download per artifact, corrupt and half-downloaded files, where it lives, the CLI; a
local store's artifacts read in place, never cached.

The cache serves remote artifacts: the `store` fixture's runs name https:// locations (`remote_looking`),
which the patched download fetches from the local store behind them."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy as np
import pytest
from analysis_fixtures import artifact_file, error_line, log_trials

import analysis.__main__ as cli
from analysis.tickets.cache import TicketCache
from analysis.tickets.loading import load_tickets
from analysis.tickets.selection import select_runs
from analysis.tickets.store import TrialRun, finished_trial_runs
from lottery.errors import UserError
from lottery.models.conv2 import Network as Conv2
from lottery.tracking import contract, uris
from lottery.tracking import store as tracking

LAYER_NAMES = Conv2.SPEC.layer_names

REMOTE_ARTIFACTS = "https://artifacts.example"


def remote_looking(runs: list[TrialRun]) -> list[TrialRun]:
    """`runs` with their local artifact folders named as https:// locations of the same path."""
    return [replace(run, artifact_uri=REMOTE_ARTIFACTS + urlparse(run.artifact_uri).path) for run in runs]


@pytest.fixture(name="store")
def store_fixture(store_uri, monkeypatch):
    """Two winning trials and a losing one: 3 + 3 + 2 = 8 artifacts, their runs remote-looking (`runs`, what
    the downloads fetch from the local store) or as the store has them (`local_runs`)."""
    run_ids = log_trials(store_uri, "digits", 2) + log_trials(
        store_uri, "digits", 1, first_trial=2, winning=False
    )
    client = tracking.connect(store_uri)
    _, runs, _ = select_runs(finished_trial_runs(client), None)
    download = tracking.download_artifact

    def from_the_local_store(client, run, artifact, directory):
        path = urlparse(run.artifact_uri).path
        return download(client, replace(run, artifact_uri=Path(path).as_uri()), artifact, directory)

    monkeypatch.setattr(tracking, "download_artifact", from_the_local_store)
    return SimpleNamespace(
        uri=store_uri,
        client=client,
        runs=remote_looking(runs),
        local_runs=runs,
        run_ids=run_ids,
        artifacts=8,
    )


@pytest.fixture(name="cache_root")
def cache_root_fixture(tmp_path) -> Path:
    """A cache root of its own (the store lives in `tmp_path` too), not yet created."""
    return tmp_path / "cache"


@pytest.fixture(name="downloads")
def downloads_fixture(store, monkeypatch) -> list[tuple[str, str]]:
    """The (run id, artifact) of every download from the (remote-looking) store, in order."""
    calls: list[tuple[str, str]] = []
    download = tracking.download_artifact

    def counted(client, run, artifact, directory):
        calls.append((run.run_id, artifact))
        return download(client, run, artifact, directory)

    monkeypatch.setattr(tracking, "download_artifact", counted)
    return calls


def cached_files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


def assert_same_tickets(first, second) -> None:
    assert [(t.run_id, t.kind) for t in first] == [(t.run_id, t.kind) for t in second]
    for a, b in zip(first, second, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a.layers, b.layers, strict=True))


def test_each_artifact_is_downloaded_once(store, downloads, cache_root):
    first_cache = TicketCache(cache_root)
    first = load_tickets(store.client, store.runs, first_cache)[0]
    assert len(downloads) == len(set(downloads)) == store.artifacts
    assert (first_cache.downloaded, first_cache.cached) == (store.artifacts, 0)
    assert cached_files(cache_root) == {Path(run_id, artifact) for run_id, artifact in downloads}
    assert not [path for path in cache_root.iterdir() if path.name.startswith(".")]

    downloads.clear()
    second_cache = TicketCache(cache_root)
    second = load_tickets(store.client, store.runs, second_cache)[0]
    assert downloads == [] and (second_cache.downloaded, second_cache.cached) == (0, store.artifacts)
    assert_same_tickets(first, second)
    assert_same_tickets(first, load_tickets(store.client, store.runs)[0])


def _save_npy(path: Path) -> None:
    """An .npy file under `path`'s .npz name: what `np.save(open(path, "wb"), array)` leaves."""
    with path.open("wb") as handle:
        np.save(handle, np.zeros(3, dtype=np.float32))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        _save_npy,
        lambda path: path.write_text("<html>502 Bad Gateway</html>"),
    ],
    ids=["truncated", "npy-under-npz-name", "text"],
)
def test_a_corrupt_cached_file_is_downloaded_again(store, downloads, cache_root, damage):
    cache = TicketCache(cache_root)
    expected = load_tickets(store.client, store.runs, cache)[0]
    cached = cache.path(store.run_ids[1], contract.INIT_ARTIFACT)
    damage(cached)
    downloads.clear()
    again = TicketCache(cache_root)
    assert_same_tickets(expected, load_tickets(store.client, store.runs, again)[0])
    assert downloads == [(store.run_ids[1], contract.INIT_ARTIFACT)]
    assert (again.downloaded, again.cached) == (1, store.artifacts - 1)


def test_a_corrupt_download_names_the_run_and_is_not_cached(store, cache_root):
    run_id = store.run_ids[1]
    cache = TicketCache(cache_root)
    load_tickets(store.client, store.runs, cache)[0]
    for path in (
        cache.path(run_id, contract.INIT_ARTIFACT),
        artifact_file(store.uri, run_id, "ticket/init.npz"),
    ):
        path.write_bytes(b"not an npz file")
    with pytest.raises(UserError, match=rf"run digits/trial-01 \({run_id}\): init.npz is corrupt") as error:
        load_tickets(store.client, store.runs, TicketCache(cache_root))
    assert len(str(error.value).splitlines()) == 1
    assert not cache.path(run_id, contract.INIT_ARTIFACT).exists()
    assert not [path for path in cache_root.iterdir() if path.name.startswith(".")]


def test_an_npy_file_in_the_store_is_one_line_naming_the_run(store_uri, capsys):
    run_id = log_trials(store_uri, "digits", 3)[1]
    _save_npy(artifact_file(store_uri, run_id, "ticket/init.npz"))
    line = error_line(capsys, [])
    assert f"run digits/trial-01 ({run_id}): init.npz is corrupt: not an .npz archive" in line
    assert "(it holds a single .npy array)" in line


def test_an_interrupted_download_leaves_nothing_that_counts_as_cached(
    store, downloads, cache_root, monkeypatch
):
    counted = tracking.download_artifact  # the downloads fixture's wrapper

    def third_cut_off(client, run, artifact, directory):
        local = counted(client, run, artifact, directory)
        if len(downloads) == 3:
            local.write_bytes(local.read_bytes()[: local.stat().st_size // 2])
            raise KeyboardInterrupt
        return local

    monkeypatch.setattr(tracking, "download_artifact", third_cut_off)
    with pytest.raises(KeyboardInterrupt):
        load_tickets(store.client, store.runs, TicketCache(cache_root))
    assert cached_files(cache_root) == {Path(*download) for download in downloads[:2]}
    # A process killed outright leaves its download directory behind, half-written file included.
    leftover = cache_root / ".download-killed" / downloads[2][1]
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"PK\x03\x04 half an npz")

    monkeypatch.setattr(tracking, "download_artifact", counted)
    interrupted = downloads[2]
    downloads.clear()
    cache = TicketCache(cache_root)
    load_tickets(store.client, store.runs, cache)[0]
    assert (cache.downloaded, cache.cached) == (store.artifacts - 2, 2)
    assert len(downloads) == store.artifacts - 2 and downloads[0] == interrupted


@pytest.fixture(name="unwritable")
def unwritable_fixture(tmp_path):
    """A cache root that cannot be created: under a read-only directory, or a file when chmod is moot."""
    if os.geteuid() == 0:  # root writes through any permission bits
        parent = tmp_path / "a-file"
        parent.write_text("")
        yield parent / "tickets"
        return
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield parent / "tickets"
    parent.chmod(stat.S_IRWXU)


def analysed(capsys, monkeypatch, cache_root, remote: int, argv: tuple[str, ...] = ()) -> str:
    """What `python -m analysis --pairs 1` prints with the ticket cache `cache_root`, the first `remote` of
    the store's runs remote-looking (the others' artifacts in their local folder), its tables."""
    monkeypatch.setattr(cli, "log_analysis", lambda *args: "-")  # what is logged is test_analysis_store's
    as_stored = finished_trial_runs

    def runs(client):
        stored = as_stored(client)
        return remote_looking(stored[:remote]) + stored[remote:]

    monkeypatch.setattr(cli, "finished_trial_runs", runs)
    cli.main(["--cache-dir", str(cache_root), "--pairs", "1", *argv])
    return capsys.readouterr().out


def test_an_unwritable_cache_is_one_line_naming_the_directory(store, unwritable, monkeypatch, capsys):
    with pytest.raises(UserError) as error:
        TicketCache(unwritable)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and str(unwritable) in message
    assert "--cache-dir" in message and "LOTTERY_CACHE_DIR" in message
    with pytest.raises(SystemExit, match="2"):
        analysed(capsys, monkeypatch, unwritable, remote=3)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: cannot write the ticket cache {unwritable}")


def runs_at(*locations: str) -> list[SimpleNamespace]:
    """Runs whose artifacts are at `locations`: all `ticket_cache_for` looks at."""
    return [SimpleNamespace(artifact_uri=location) for location in locations]


LOCAL = ("file:///data/mlruns/artifacts/1/abc/artifacts", "/data/mlruns/artifacts/1/def/artifacts")
ELSEWHERE = (
    "mlflow-artifacts:/1/abc/artifacts",
    "s3://bucket/1/abc/artifacts",
    "gs://bucket/1/abc/artifacts",
)


def test_only_runs_whose_artifacts_are_not_local_files_get_a_cache(tmp_path, monkeypatch):
    """Decided by where the runs' artifacts are, not by the store: a PostgreSQL or SQLite store's runs on
    s3 are cached, a server's runs in a shared local folder are not."""
    monkeypatch.setenv("LOTTERY_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli.ticket_cache_for(runs_at(*LOCAL), cli.parse([])) is None
    assert cli.ticket_cache_for(runs_at(*ELSEWHERE), cli.parse(["--no-cache"])) is None
    assert not (tmp_path / "env").exists()  # no cache folder made
    for location in ELSEWHERE + (REMOTE_ARTIFACTS + "/1/abc/artifacts", "file://other-host/data/artifacts"):
        assert cli.ticket_cache_for(runs_at(*LOCAL, location), cli.parse([])).root == tmp_path / "env"
    remote = runs_at(*ELSEWHERE)
    assert cli.ticket_cache_for(remote, cli.parse(["--cache-dir", str(tmp_path / "opt")])).root == (
        tmp_path / "opt"
    )
    monkeypatch.delenv("LOTTERY_CACHE_DIR")
    assert cli.ticket_cache_for(remote, cli.parse([])).root == tmp_path / "xdg" / "lottery" / "tickets"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cli.ticket_cache_for(remote, cli.parse([])).root == tmp_path / "home/.cache/lottery/tickets"
    with pytest.raises(UserError, match="not allowed with argument"):
        cli.parse(["--no-cache", "--cache-dir", "x"])


def test_the_cli_reports_what_the_cache_saved(store, cache_root, monkeypatch, capsys):
    load_tickets(store.client, store.runs[:1], TicketCache(cache_root))
    out = analysed(capsys, monkeypatch, cache_root, remote=3)
    assert f"tickets of 3 runs: 5 artifacts downloaded, 3 from the cache in {cache_root}\n" in out
    assert len(cached_files(cache_root)) == store.artifacts


def test_a_local_store_is_read_in_place_into_the_same_tables(
    store, downloads, cache_root, monkeypatch, capsys
):
    """A SQLite store whose experiments keep their artifacts in `file:` folders: no cache folder, nothing
    downloaded, the same tables as through the cache; a run elsewhere goes through the cache alone."""
    in_place = load_tickets(store.client, store.local_runs)[0]
    assert_same_tickets(in_place, load_tickets(store.client, store.runs)[0])
    downloads.clear()

    local = analysed(capsys, monkeypatch, cache_root, remote=0)
    assert downloads == [] and not cache_root.exists()
    assert "from the cache" not in local and "downloaded" not in local
    mixed = analysed(capsys, monkeypatch, cache_root, remote=1)
    fetched = len(downloads)  # the first run's θ0 and masks: 3 if it won, else 2
    assert fetched in (2, 3) and len(cached_files(cache_root)) == fetched
    summary = f"tickets of 3 runs: {fetched} artifacts downloaded, 0 from the cache in {cache_root}"
    assert f"{summary}; those of 2 runs read in place\n" in mixed
    assert [line for line in mixed.splitlines() if not line.startswith("tickets of")] == local.splitlines()


def test_a_missing_local_artifact_names_the_run_and_the_file(store, cache_root):
    run_id = store.run_ids[0]
    missing = artifact_file(store.uri, run_id, contract.WINNING_MASK_ARTIFACT)
    missing.unlink()
    with pytest.raises(UserError) as error:
        load_tickets(store.client, store.local_runs, TicketCache(cache_root))
    assert str(error.value) == (
        f"run digits/trial-00 ({run_id}): {contract.WINNING_MASK_ARTIFACT} is missing from the run's "
        f"artifacts ({missing}); re-run the trial that produced it"
    )


@pytest.mark.parametrize(
    ("location", "local"),
    [
        ("file:///data/mlruns/artifacts/1/abc/artifacts", "/data/mlruns/artifacts/1/abc/artifacts"),
        ("file://localhost/data/a%20b", "/data/a b"),
        ("/data/mlruns/artifacts", "/data/mlruns/artifacts"),
        ("file://other-host/data/artifacts", None),
        ("mlflow-artifacts:/1/abc/artifacts", None),
        ("https://artifacts.example/1/abc/artifacts", None),
        ("s3://bucket/mlruns/1/abc/artifacts", None),
    ],
)
def test_which_artifact_locations_are_local(location, local):
    assert uris.local_path(location) == (None if local is None else Path(local))
