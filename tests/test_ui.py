"""`make ui`: one light process over the store, no GenAI jobs, no Default experiment in the current folder,
and links that open the MLflow UI on an experiment's runs table."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from entry_points import REPO, refused
from tracking_server import free_port, stop, wait_until_healthy

from experiments import server, serving, ui
from lottery.tracking import store
from lottery.tracking.contract import EXPERIMENT_KIND, MODEL_TRAINING
from lottery.tracking.uris import browse_url, where_to_browse

JOBS = serving.JOB_EXECUTION
# found without importing mlflow.server (a second of Flask and handlers) in every process that collects this
UI_BUNDLE = (
    Path(*importlib.util.find_spec("mlflow.server").submodule_search_locations)
    / "js"
    / "build"
    / "static"
    / "js"
)


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def exec_ui(monkeypatch, capsys, *args: str) -> tuple[list[str], dict[str, str], str]:
    """The `mlflow server` command line and environment `python -m experiments.ui args` would serve with (on
    a free port unless `args` name one), and what it would say once the UI answers."""
    calls = []
    monkeypatch.setattr(
        serving, "serve", lambda command, env, url, said, verbose: calls.append((command, env, said))
    )
    ui.main([*([] if "--port" in args else ["--port", str(free_port())]), *args])
    ((argv, env, said),) = calls
    return argv, env, said


def test_one_worker_over_the_tracking_store_without_jobs(monkeypatch, capsys, tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.delenv(JOBS, raising=False)
    argv, env, said = exec_ui(monkeypatch, capsys)
    assert argv[0] == os.path.join(os.path.dirname(sys.executable), "mlflow") and argv[1] == "server"
    assert option(argv, "--workers") == "1"
    assert env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{db}"
    assert env[JOBS] == "false"
    # MLflow's own Default experiment (created by the UI on a new store) keeps its artifacts beside ours.
    artifacts = tmp_path / "store" / "artifacts"
    assert env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] == artifacts.as_uri()
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == str(artifacts) and artifacts.is_dir()
    assert "10.*" not in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")  # make server's host checks
    assert said.startswith(f"MLflow UI over sqlite:///{db} at http://127.0.0.1:")


def test_workers_and_a_users_job_setting_are_kept(monkeypatch, capsys, store_uri):
    monkeypatch.setenv(JOBS, "true")
    argv, env, _ = exec_ui(monkeypatch, capsys, "--workers", "3")
    assert option(argv, "--workers") == "3" and env[JOBS] == "true"


def test_the_default_store_is_the_local_one(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    _, env, _ = exec_ui(monkeypatch, capsys)
    assert env["MLFLOW_BACKEND_STORE_URI"] == "sqlite:///mlruns/mlflow.db"
    assert env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] == (tmp_path / "mlruns" / "artifacts").as_uri()


def test_links_to_each_experiments_runs(monkeypatch, capsys, store_uri):
    client = store.connect(store_uri)
    ids = [store.experiment_id(client, name) for name in ("digits", "cifar10")]
    port = free_port()
    _, _, said = exec_ui(monkeypatch, capsys, "--port", str(port))
    lines = said.splitlines()
    assert lines[1:] == [
        f"  {name}: http://127.0.0.1:{port}/#/experiments/{i}/runs?workflowType=machine_learning"
        for name, i in zip(("digits", "cifar10"), ids, strict=True)
    ]


def make_ui(*assignments: str, env: dict | None = None) -> str:
    """The command `make ui` would run."""
    command = ["make", "--no-print-directory", "--old-file=.venv/.installed", "-n", "ui", *assignments]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout


def test_make_passes_workers_only_if_set():
    env = {key: value for key, value in os.environ.items() if key != "WORKERS"}
    assert "-m experiments.ui" in make_ui(env=env) and "--workers" not in make_ui(env=env)
    assert '--workers "$WORKERS"' in make_ui("WORKERS=3", env=env)
    assert '--workers "$WORKERS"' in make_ui(env={**env, "WORKERS": "3"})


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000", "is the tracking server http://127.0.0.1:5000, which serves the UI"),
        ("https://lottery:s3cret@mlflow.lab.example", "which serves the UI itself"),
        ("mlruns", "file store"),
        ("file:///tmp/mlruns", "file store"),
        ("postgres://lottery@db/mlflow", "postgresql://"),
    ],
)
def test_stores_it_cannot_serve(uri, expected):
    result = refused("experiments.ui", env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert expected in result.stderr and "s3cret" not in result.stderr and result.stdout == ""


def test_port_in_use_names_make_ui(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = refused(
            "experiments.ui", "--port", str(port), "--tracking-uri", f"sqlite:///{tmp_path}/x.db"
        )
    assert f"error: port {port} on 127.0.0.1 is in use" in result.stderr and "make ui PORT=" in result.stderr


def test_server_keeps_its_own_defaults(tmp_path):
    """What `make ui` shares with `make server` leaves the latter 2 workers and no default artifact root
    (experiments created through it put theirs at mlflow-artifacts:/…)."""
    args = server.parse(["--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db"])
    assert args.workers == 2 and "MLFLOW_DEFAULT_ARTIFACT_ROOT" not in serving.settings(args, str(tmp_path))


RUNS = "/#/experiments/7/runs?workflowType=machine_learning"
RUN = "/#/experiments/7/runs/0123abcd?workflowType=machine_learning"


@pytest.mark.parametrize(
    ("uri", "environment", "run_id", "expected"),
    [
        ("sqlite:///mlruns/mlflow.db", {}, None, f"http://127.0.0.1:5000{RUNS}"),
        ("sqlite:////data/lottery/mlflow.db", {}, "0123abcd", f"http://127.0.0.1:5000{RUN}"),
        (
            "sqlite:///mlruns/mlflow.db",
            {"HOST": "10.0.0.5", "PORT": "5123"},
            None,
            f"http://10.0.0.5:5123{RUNS}",
        ),
        ("sqlite:///mlruns/mlflow.db", {"HOST": "0.0.0.0"}, None, f"http://127.0.0.1:5000{RUNS}"),
        ("sqlite:///mlruns/mlflow.db", {"HOST": "::"}, None, f"http://[::1]:5000{RUNS}"),
        ("postgresql+psycopg2://lottery@db/mlflow", {"PORT": "8080"}, None, f"http://127.0.0.1:8080{RUNS}"),
        ("http://127.0.0.1:5000", {"PORT": "9999"}, None, f"http://127.0.0.1:5000{RUNS}"),
        ("http://head-node:5000/", {}, "0123abcd", f"http://head-node:5000{RUN}"),
        (
            "https://lottery:s3cret@mlflow.lab.example/mlflow/",
            {},
            None,
            f"https://mlflow.lab.example/mlflow{RUNS}",
        ),
        ("http://[fd00::1]:5000", {}, None, f"http://[fd00::1]:5000{RUNS}"),
        ("file:///tmp/mlruns", {}, None, None),
        ("mlruns", {}, None, None),
        ("databricks", {}, None, None),
    ],
)
def test_browse_url(monkeypatch, uri, environment, run_id, expected):
    for variable in ("HOST", "PORT"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert browse_url(uri, "7", run_id) == expected


def ui_bundle() -> str:
    (main,) = UI_BUNDLE.glob("main.*.js")
    return main.read_text(encoding="utf-8", errors="replace")


def test_browse_url_forms_are_the_ui_routes():
    """browse_url's routes and query, as MLflow's UI (the JS bundle of the version installed) spells them."""
    bundle = ui_bundle()
    assert '"/experiments/:experimentId/runs"' in bundle
    assert '"/experiments/:experimentId/runs/:runUuid"' in bundle
    # The GenAI / Model training switch: read from the query, then from the browser's storage.
    assert 'e.MACHINE_LEARNING="machine_learning"' in bundle
    assert re.search(r'\.get\("workflowType"\);return n===l\.GENAI\|\|n===l\.MACHINE_LEARNING\?n:t', bundle)


def test_experiments_are_tagged_as_model_training(store_uri):
    client = store.connect(store_uri)
    experiment = client.get_experiment(store.experiment_id(client, "digits"))
    assert experiment.tags[EXPERIMENT_KIND] == MODEL_TRAINING == "custom_model_development"
    # A kind the UI knows: its model-training one, not GenAI's.
    assert f'e.CUSTOM_MODEL_DEVELOPMENT="{MODEL_TRAINING}"' in ui_bundle()


def group_processes(group: int) -> list[str]:
    """The command lines of the processes in process group `group`."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        if int(fields[2]) == group:  # state, ppid, pgrp
            commands.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return commands


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.drivers
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_make_ui_serves_a_new_store_lightly_and_quietly(tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    port = free_port()
    log = tmp_path / "ui.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    for variable in (JOBS, "WORKERS", "VERBOSE", *serving.QUIET):
        env.pop(variable, None)
    command = ["make", "--no-print-directory", "--old-file=.venv/.installed", "ui", f"PORT={port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    said = f"MLflow UI over sqlite:///{db} at {url}"
    try:
        wait_until_healthy(url, process, log, timeout=120)
        commands = group_processes(process.pid)
        assert not [c for c in commands if "huey" in c or "_job_runner" in c], commands
        # make, this command, `mlflow server` and one uvicorn process serving the app: no uvicorn supervisor,
        # no workers; short command lines (MLflow's settings travel in its environment).
        assert len(commands) == 4 and max(map(len, commands)) < 400, commands
        default = get(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default")["experiment"]
        assert default["artifact_location"] == (tmp_path / "store" / "artifacts" / "0").as_uri()
        for _ in range(3):  # what the UI asks on every page, in vain
            assert status(f"{url}/ajax-api/2.0/mlflow/users/current") == 404
        deadline = time.monotonic() + 30
        while said not in log.read_text():  # said once the server answers
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        stop(process)
    # make's echo of its command, then the one line: no request logged, no CORS patterns, no deprecation.
    lines = log.read_text().splitlines()
    assert lines[-1] == said and all(line.startswith((".venv/bin/python", "\t")) for line in lines[:-1]), (
        lines
    )


def test_commands_end_with_where_to_browse_what_they_logged(monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    route = "#/experiments/3/runs/abc?workflowType=machine_learning"
    local = where_to_browse("sqlite:////tmp/x/mlflow.db", "3", "abc")
    command = "MLFLOW_TRACKING_URI=sqlite:////tmp/x/mlflow.db make ui"  # not the default store: it is named
    assert local == f"browse it (after `{command}`): http://127.0.0.1:5000/{route}"
    assert (
        where_to_browse("https://mlflow.lab:8443", "3", "abc")
        == f"browse it: https://mlflow.lab:8443/{route}"
    )
    assert where_to_browse("databricks", "3") is None
