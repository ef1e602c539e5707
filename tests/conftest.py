"""Shared fixtures: an empty MLflow store in milliseconds, a tiny dataset that trains in a second, no network
for the data tests, and one local Ray cluster for the tests that train on Ray.

Helpers that are not fixtures live in modules of their own (`trial_store`, `entry_points`, …), imported by
their bare names: pytest puts this folder on `sys.path`. They are imported inside the fixtures: under
pytest-xdist (`make test` runs `-n auto`) the process that hands out tests then starts its workers at once,
without loading torch and MLflow itself.
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest


def pytest_configure(config) -> None:
    """The `make` commands the tests start see none of `make test`'s own flags (MAKEFLAGS: its command line
    too; MAKELEVEL), as from a user's shell. Under pytest-xdist, each worker's torch takes its share of the
    cores, not all of them, and so do the processes it starts (drivers, servers: their threads would
    otherwise contend with the other workers'). A process that trains on more threads anyway (a Ray trial
    given two CPUs) has them sleep while they wait (OMP_WAIT_POLICY=PASSIVE): spinning for a core the other
    worker holds, two threads of the toy model cost 1.5x the CPU of one. An xdist worker imports and
    collects with the garbage collector off (`pytest_collection_finish`)."""
    if hasattr(config, "workerinput"):
        gc.disable()
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        os.environ.pop(name, None)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch's OpenMP loads
        import torch

        share = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(share)
        os.environ.setdefault("OMP_NUM_THREADS", str(share))


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config) -> None:
    """A pytest-xdist worker leaves without Python's own teardown, before the other plugins' unconfigure: by
    now it has reported every test and its session's end, and run every fixture's teardown. Unloading torch,
    MLflow and the rest takes 2–3 s a worker, and pytest's last garbage collection (for exceptions raised in
    finalizers, which a worker could no longer report) about 1 s: `make test` would wait for both (so the
    preloaded forkserver's socket folder is removed here). A run without workers (`-n 0`) ends as usual."""
    if hasattr(config, "workerinput"):
        if "preloaded" in sys.modules:
            sys.modules["preloaded"].remove_socket_folder()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def pytest_collection_finish(session) -> None:
    """Each full collection of the garbage collector walks every object it tracks: after the imports and the
    collection, about a million that live as long as the process (torch, Lightning, MLflow, the analysis
    stack), a quarter of a second a walk. So an xdist worker imports and collects with the collector off
    (importing makes few cycles), and then what exists is frozen (`gc.freeze`: never walked again), as is
    what each module's tests leave alive once their garbage is collected (`pytest_runtest_teardown`): a
    collection during a module walks only what that module made. The quick loop's workers spent 3–4 s of
    CPU each in the collector, about 1 s now."""
    gc.freeze()
    gc.enable()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a module's last test and its fixtures' teardown: its garbage collected, what survives frozen."""
    result = yield
    if nextitem is None or nextitem.path != item.path:
        gc.collect()
        gc.freeze()
    return result


# The slowest modules, slowest first: seconds each took in `make test` on an idle 2-core machine (a timeline
# of each worker's tests). `make test` hands them to its workers first, in this order, and the rest after them
# in collection order, so that the workers end together; xdist's own order (most tests first) put these last,
# where one worker ran the slowest alone while the other had ended.
SLOWEST_FIRST = (
    "test_ray_executor.py",  # 182: the module's Ray cluster, and a local cluster whose worker is killed
    "test_pins.py",  # 105: the README's demo, on one thread
    "test_leases.py",  # 74: two drivers sharing trials, three times
    "test_store_compatibility.py",  # 70: a legacy store resumed and analysed
    "test_ray_nodes.py",  # 48: a three-node cluster, a node removed mid-trial
    "test_browser.py",  # 42: make ui and Chromium
    "test_postgres.py",  # 31: a database lost mid-run
    "test_driver_faults.py",  # 31: drivers killed, servers lost, on SQLite and PostgreSQL
    "test_server.py",  # 21
    "test_gpu_ray.py",  # 14
    "test_ui.py",  # 11
    "test_preloaded.py",  # 10: the preloaded interpreter's own start
    "test_analysis_store.py",  # 8
)


def pytest_collection_modifyitems(items) -> None:
    """`make test` hands each module to one worker (`--dist loadfile`), in the order of the items: the
    slowest modules first (SLOWEST_FIRST, checked to name modules that exist). The Ray cluster of
    `ray_cluster` starts once only while every test that uses it lives in one module: held here."""
    modules = sorted({item.path.name for item in items if "ray_cluster" in getattr(item, "fixturenames", ())})
    if len(modules) > 1:
        raise pytest.UsageError(f"tests in {', '.join(modules)} use ray_cluster: move them into one module")
    gone = [module for module in SLOWEST_FIRST if not Path(__file__).with_name(module).is_file()]
    if gone:
        raise pytest.UsageError(f"SLOWEST_FIRST in tests/conftest.py names no module {gone[0]}: drop it")
    rank = {module: k for k, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True, scope="session")
def schema_head_read_once() -> None:
    """MLflow checks every SQLite store it opens against the head of its migration scripts, which it finds by
    loading all of them (about 30 ms); the suite opens hundreds of fresh stores, so each process reads the
    head once. The head depends on MLflow's installed files alone; where MLflow no longer has this helper,
    nothing changes."""
    from mlflow.store.db import utils

    head = getattr(utils, "_get_latest_schema_revision", None)
    if head is not None and not hasattr(head, "cache_info"):
        utils._get_latest_schema_revision = functools.cache(head)


@pytest.fixture(autouse=True, scope="session")
def sqlite_stores_without_fsync() -> None:
    """The SQLite stores this process opens commit without waiting for the disk (`PRAGMA synchronous=OFF`):
    a test's store lives as long as the test, and every MLflow call is a commit, each an fsync of about 1 ms
    on this machine's disk (0.1 ms on tmpfs): some 5,000 of them in the quick loop. Locking and isolation
    are unchanged; the drivers, servers and scripts the tests start keep SQLite's defaults."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def without_fsync(connection, record) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="session")
def template_store(request, tmp_path_factory) -> Path:
    """An empty SQLite store whose tables MLflow created (seconds of migrations): copied, never written. Kept
    in pytest's cache (`.pytest_cache`) under MLflow's version, which alone decides what its migrations make,
    so that a session, or an xdist worker, copies it instead of migrating again; made afresh each session
    without the cache (`-p no:cacheprovider`)."""
    import mlflow

    from lottery.tracking import store

    cache = getattr(request.config, "cache", None)
    if cache is None:
        folder = tmp_path_factory.mktemp("template")
    else:
        folder = cache.mkdir(f"template-store-mlflow-{mlflow.__version__}")
    db = folder / "mlflow.db"
    if not db.is_file():
        fresh = tmp_path_factory.mktemp("template") / "mlflow.db"
        store.connect(f"sqlite:///{fresh}")
        staged = folder / f"mlflow.db.{os.getpid()}"
        shutil.copyfile(fresh, staged)
        staged.replace(db)  # atomic: a worker creating it at the same time, or reading it, sees a whole file
    return db


@pytest.fixture
def store_uri(template_store, tmp_path, monkeypatch) -> str:
    """A fresh, empty SQLite store at `tmp_path/store/mlflow.db` (a copy of the template), also exported as
    MLFLOW_TRACKING_URI. Tests of creating a store use a path of their own instead."""
    from trial_store import empty_store

    uri = empty_store(template_store, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def tiny_digits():
    """120 train / 60 test images of `digits`: enough to train a round of the toy model in a fraction of a
    second, and of Conv-2 in about a second."""
    from lottery.data.dataset import Split
    from lottery.data.digits import load as load_digits

    full = load_digits()
    return replace(
        full,
        name="digits",
        train=Split(full.train.images[:120].clone(), full.train.labels[:120].clone()),
        test=Split(full.test.images[:60].clone(), full.test.labels[:60].clone()),
    )


@pytest.fixture
def undrawn(monkeypatch) -> None:
    """Analyses log blank figures instead of composing them (`analysis_fixtures.draw_nothing`)."""
    from analysis_fixtures import draw_nothing

    draw_nothing(monkeypatch)


@pytest.fixture
def tiny_data(monkeypatch, tiny_digits):
    """Make every experiment train on `tiny_digits`, whatever dataset it names."""
    monkeypatch.setattr("lottery.data.registry.load_dataset", lambda *args, **kwargs: tiny_digits)
    return tiny_digits


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Downloads fail as offline (a test may serve bytes instead); the URLs tried. A data test module
    applies it to all its tests: `pytestmark = pytest.mark.usefixtures("no_network")`."""
    from data_fixtures import block_network

    return block_network(monkeypatch)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server (`postgres_server.PostgresServer`, fsync off) for every test that needs
    one, started by the first; the tests skip, saying how to install it, where PostgreSQL is missing."""
    from postgres_server import PostgresServer, missing

    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    with PostgresServer.started("fsync=off") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store_uri(request, template_store, tmp_path) -> str:
    """An empty store for a tracking server (its BACKEND_STORE_URI), once per backend we recommend: a SQLite
    file (a copy of the template) and a PostgreSQL database (a clone of the `postgres` server's template)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").database()
    from trial_store import empty_store

    return empty_store(template_store, tmp_path / "backend")


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster (`ray start --head`, 2 CPUs) for every test that trains on Ray and does not test
    starting one: drivers reach it with the variables of `ray_cluster.env()` (RAY_ADDRESS, its token).
    Started by the first test that asks for it, stopped after the module's last test: its daemons would
    otherwise poll on, idle, while the worker runs the other modules."""
    from ray_cluster import RayCluster

    with RayCluster.started() as cluster:
        yield cluster
