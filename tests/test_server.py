"""`make server`: a real tracking server that proxies artifacts, and one clear line for every user error."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from entry_points import REPO, refused
from tracking_server import free_port, running_server
from trial_store import empty_store

from experiments import security, server, serving
from lottery.tracking import store
from lottery.tracking.trial_record import TrialRecord

ALLOWED_HOSTS, CORS_ORIGINS = security.ALLOWED_HOSTS, security.CORS_ALLOWED_ORIGINS


# MLflow's own checks, imported where used: mlflow.server (a second of Flask and handlers) then loads only in
# the process that runs these tests, not in every one that collects this module.
def is_allowed_host_header(hosts: list[str], host: str) -> bool:
    from mlflow.server.security_utils import is_allowed_host_header as allowed

    return allowed(hosts, host)


def should_block_cors_request(origin: str, method: str, origins: list[str]) -> bool:
    from mlflow.server.security_utils import should_block_cors_request as blocked

    return blocked(origin, method, origins)


MAKE = ["make", "--no-print-directory", "--old-file=.venv/.installed"]  # the venv is installed: never again


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """A server started by `make server` over a store it creates, stopped even if a test fails."""
    root = tmp_path_factory.mktemp("server")
    with running_server(root) as url:
        yield url, root


@pytest.mark.drivers
def test_server_proxies_artifacts(live_server, tmp_path):
    url, root = live_server
    client = store.connect(url)
    experiment = client.get_experiment(store.experiment_id(client, "digits"))
    assert experiment.artifact_location.startswith("mlflow-artifacts:")

    run = TrialRecord(client, client.create_run(experiment.experiment_id))
    run_id = run.run_id
    payload = tmp_path / "mask.npz"
    payload.write_bytes(os.urandom(100_000))
    client.log_artifact(run_id, str(payload), artifact_path="ticket")
    client.set_terminated(run_id)

    (stored,) = (root / "artifacts").rglob("mask.npz")
    assert run_id in stored.parts and stored.read_bytes() == payload.read_bytes()
    downloaded = store.download_artifact(client, run, "ticket/mask.npz", tmp_path / "back")
    assert downloaded.read_bytes() == payload.read_bytes()
    assert (root / "store" / "mlflow.db").is_file()
    log = (root / "server.log").read_text()
    assert f"export MLFLOW_TRACKING_URI={url}" in log
    assert '"GET /' not in log and '"POST /' not in log and "Security middleware" not in log  # quiet


def run_cli(capsys, monkeypatch, *args: str) -> str:
    """`main(args)`, which must fail before it would start `mlflow server`."""
    monkeypatch.setattr(serving, "serve", lambda *a: pytest.fail(f"would have started a server: {a}"))
    with pytest.raises(SystemExit) as exit_info:
        server.main(list(args))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def store_args(tmp_path) -> list[str]:
    return [
        "--backend-store-uri",
        f"sqlite:///{tmp_path}/store/mlflow.db",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
    ]


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = refused("experiments.server", "--port", str(port), *store_args(tmp_path))
    line = result.stderr.strip()
    assert line.startswith(f"error: port {port} on 127.0.0.1 is in use")
    assert "make server PORT=" in line
    assert result.stdout == ""


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
def test_postgres_without_its_driver_names_the_extra(capsys, monkeypatch, tmp_path, scheme):
    # SQLAlchemy 2.1 maps postgresql:// to psycopg (3), which the `postgres` extra installs.
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails
    uri = f"{scheme}://lottery:s3cret@db.example.org/mlflow"
    err = run_cli(capsys, monkeypatch, "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path))
    assert "needs the database driver psycopg, which is not installed" in err
    assert "install -e '.[postgres]'" in err and "s3cret" not in err


def test_psycopg2_without_its_driver_names_its_package(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    uri = "postgresql+psycopg2://lottery@db.example.org/mlflow"
    err = run_cli(capsys, monkeypatch, "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path))
    assert "driver psycopg2, which is not installed: pip install psycopg2-binary, or use postgresql://" in err


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="the postgres extra is not installed")
def test_the_postgres_extra_is_the_driver_postgresql_urls_need(capsys, monkeypatch, tmp_path):
    """With the extra installed, postgresql:// passes the driver check: the database is what fails next
    (nothing listens on port 1)."""
    uri = "postgresql://lottery@127.0.0.1:1/mlflow"
    err = run_cli(capsys, monkeypatch, "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path))
    assert "the database does not answer (Connection refused" in err and "make postgres" in err


def test_postgres_scheme_is_spelled_postgresql(capsys, monkeypatch, tmp_path):
    err = run_cli(capsys, monkeypatch, "--backend-store-uri", "postgres://lottery:s3cret@db/mlflow")
    assert "postgresql://" in err and "s3cret" not in err


def test_s3_without_boto3(capsys, monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else find_spec(name, *a)
    )
    err = run_cli(
        capsys,
        monkeypatch,
        "--backend-store-uri",
        f"sqlite:///{tmp_path}/mlflow.db",
        "--artifacts-destination",
        "s3://bucket/lottery",
    )
    assert "boto3" in err and "install -e '.[s3]'" in err


@pytest.mark.parametrize("backend", ["mlruns", "file:///tmp/mlruns"])
def test_file_store_is_refused(capsys, monkeypatch, backend):
    assert "file store" in run_cli(capsys, monkeypatch, "--backend-store-uri", backend)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend-store-uri", "http://127.0.0.1:5000"], "is not a database URL"),
        (["--port", "70000"], "PORT must lie in 1..65535"),
        (["--workers", "0"], "WORKERS must be >= 1"),
        (["--port", "five"], "invalid int value: 'five'"),
    ],
)
def test_bad_arguments(capsys, monkeypatch, args, expected):
    assert expected in run_cli(capsys, monkeypatch, *args)


def served(capsys, monkeypatch, main, *args: str) -> tuple[list[str], dict[str, str], str, str]:
    """The `mlflow server` command line and environment `main(args)` would serve with, the line it would
    say once the server answers, and what it printed before."""
    calls = []
    monkeypatch.setattr(
        serving, "serve", lambda command, env, url, said, verbose: calls.append((command, env, said))
    )
    monkeypatch.delenv(serving.JOB_EXECUTION, raising=False)
    main(list(args))
    ((argv, env, said),) = calls
    return argv, env, said, capsys.readouterr().err


def exec_command(capsys, monkeypatch, *args: str) -> tuple[list[str], dict[str, str], str, str]:
    return served(capsys, monkeypatch, server.main, *args)


def unset_mlflow_variables(monkeypatch) -> None:
    for variable in (ALLOWED_HOSTS, CORS_ORIGINS, *serving.QUIET):
        monkeypatch.delenv(variable, raising=False)


def test_local_store_folders_are_created(capsys, monkeypatch, tmp_path):
    unset_mlflow_variables(monkeypatch)
    port = free_port()
    argv, env, said, err = exec_command(capsys, monkeypatch, "--port", str(port), *store_args(tmp_path))
    assert (tmp_path / "store").is_dir() and (tmp_path / "artifacts").is_dir()
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    assert argv == [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--serve-artifacts",
    ]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == str(tmp_path / "artifacts")
    assert env["MLFLOW_BACKEND_STORE_URI"] == env["MLFLOW_REGISTRY_STORE_URI"] == store_args(tmp_path)[1]
    # On loopback too, since MLflow's own defaults ("10.*") accept names.
    assert "10.*" not in env[ALLOWED_HOSTS].split(",")
    assert said.startswith(f"tracking server at http://127.0.0.1:{port} (this machine only")
    assert err == "" and env[serving.JOB_EXECUTION] == "false"
    assert serving.JOB_EXECUTION not in os.environ  # the child's, not this process's


def test_quiet_unless_verbose(capsys, monkeypatch, tmp_path):
    unset_mlflow_variables(monkeypatch)
    _, quiet, _, _ = exec_command(capsys, monkeypatch, "--port", str(free_port()), *store_args(tmp_path))
    assert quiet["MLFLOW_UVICORN_OPTS"] == "--no-access-log --log-level warning"
    assert quiet["MLFLOW_LOGGING_LEVEL"] == "WARNING" and "DeprecationWarning" in quiet["PYTHONWARNINGS"]
    args = ["--port", str(free_port()), "--verbose", *store_args(tmp_path)]
    _, verbose, _, _ = exec_command(capsys, monkeypatch, *args)
    assert not set(serving.QUIET) & set(verbose)
    monkeypatch.setenv("MLFLOW_UVICORN_OPTS", "--timeout-keep-alive 30")  # the user's own wins
    _, chosen, _, _ = exec_command(capsys, monkeypatch, "--port", str(free_port()), *store_args(tmp_path))
    assert chosen["MLFLOW_UVICORN_OPTS"] == "--timeout-keep-alive 30"


def test_all_interfaces_accept_this_machines_name(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(socket, "gethostname", lambda: "head-node")
    unset_mlflow_variables(monkeypatch)
    port = free_port()
    args = [
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--allowed-hosts",
        "mlflow.lab.example",
        *store_args(tmp_path),
    ]
    _, env, said, _ = exec_command(capsys, monkeypatch, *args)
    assert f"export MLFLOW_TRACKING_URI=http://head-node:{port}" in said

    hosts = env[ALLOWED_HOSTS].split(",")
    for host in (f"head-node:{port}", f"mlflow.lab.example:{port}", f"10.1.2.3:{port}", f"localhost:{port}"):
        assert is_allowed_host_header(hosts, host), host
    for host in (f"attacker.example:{port}", f"10.evil.example:{port}"):
        assert not is_allowed_host_header(hosts, host), host

    # The UI's own POSTs carry its origin, which MLflow's CORS check refuses unless it is listed.
    origins = env[CORS_ORIGINS].split(",")
    for origin in (
        f"http://head-node:{port}",
        f"http://mlflow.lab.example:{port}",
        f"http://192.168.0.7:{port}",
    ):
        assert not should_block_cors_request(origin, "POST", origins), origin
    for origin in ("http://attacker.example", f"http://10.evil.example:{port}"):
        assert should_block_cors_request(origin, "POST", origins), origin


def test_mlflow_variables_win(monkeypatch):
    monkeypatch.setenv(CORS_ORIGINS, "https://notebooks.lab.example")
    monkeypatch.delenv(ALLOWED_HOSTS, raising=False)
    assert list(security.security_settings("0.0.0.0", 5000, "")) == [ALLOWED_HOSTS]


def test_cluster_warned_about_experiments_with_local_artifacts_and_sqlite(
    capsys, monkeypatch, tmp_path, store_uri
):
    store.experiment_id(store.connect(store_uri), "digits")  # as `make train` does without a server
    args = ["--host", "0.0.0.0", "--port", str(free_port()), "--backend-store-uri", store_uri]
    _, _, _, err = exec_command(
        capsys, monkeypatch, *args, "--artifacts-destination", str(tmp_path / "artifacts")
    )
    note, warning = err.strip().splitlines()
    assert note.startswith("note: experiments digits keep their artifacts in local folders")
    assert warning == server.SQLITE_SHARED


def test_a_server_that_exits_before_answering_is_one_line():
    env = {"MLFLOW_BACKEND_STORE_URI": "postgresql://lottery:s3cret@db/mlflow"}
    old = "Detected out-of-date database schema (found version 0584bdc529eb, but expected dc11669786a5)."
    line = serving.start_failure(1, ["Traceback (most recent call last):", old, ""], env)
    assert line.startswith(
        "mlflow server could not open BACKEND_STORE_URI=postgresql://lottery:***@db/mlflow:"
    )
    assert "older MLflow schema" in line and "mlflow db upgrade" in line and "s3cret" not in line
    line = serving.start_failure(3, ["Traceback (most recent call last):", "KeyError: 'x'"], env)
    assert (
        line == "mlflow server exited with status 3 before answering (KeyError: 'x'); VERBOSE=1 shows its log"
    )


@pytest.mark.parametrize(
    ("variables", "verbose"), [([], False), (["VERBOSE=1"], True), (["VERBOSE=0"], False)]
)
def test_make_passes_verbose_if_set(variables, verbose):
    env = {key: value for key, value in os.environ.items() if key != "VERBOSE"}
    for target in ("server", "ui"):
        command = [*MAKE, "-n", target, *variables]
        echoed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        assert ("--verbose" in echoed) == verbose, echoed


def test_sqlite_on_loopback_is_not_warned_about(capsys, monkeypatch, store_uri, tmp_path):
    args = ["--port", str(free_port()), "--backend-store-uri", store_uri]
    _, _, _, err = exec_command(capsys, monkeypatch, *args, "--artifacts-destination", str(tmp_path / "a"))
    assert err == ""


@pytest.fixture
def loopback_lists(monkeypatch) -> tuple[list[str], list[str]]:
    """The Host and origin patterns `make server` gives a loopback server on port 5000."""
    unset_mlflow_variables(monkeypatch)
    chosen = security.security_settings("127.0.0.1", 5000, "")
    return chosen[ALLOWED_HOSTS].split(","), chosen[CORS_ORIGINS].split(",")


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "10.1.2.3:5000",
        "10.255.0.17:443",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.7:80",
        "localhost",
        "localhost:5000",
        "127.0.0.1",
        "127.0.0.1:5000",
        "[::1]:5000",
        "[fd00::1]:5000",
        "[fc12:3456::7]",
    ],
)
def test_private_and_local_addresses_are_accepted(loopback_lists, host):
    hosts, _ = loopback_lists
    assert is_allowed_host_header(hosts, host)


@pytest.mark.parametrize(
    "host",
    [
        "10.evil.example",
        "10.evil.example:5000",
        "10.1.2.3.evil.example",
        "192.168.1.1.nip.io",
        "172.16.evil",
        "172.15.0.1",
        "172.32.0.1",
        "10*1.2.3",  # the "*" each pattern needs for MLflow to fnmatch it matches no "*" itself
        "fd00:5000",  # the name fd00, port 5000
        "fd00.evil.example",
        "[fe80::1]:5000",
        "localhost.evil.example",
    ],
)
def test_names_that_look_private_are_refused(loopback_lists, host):
    hosts, _ = loopback_lists
    assert not is_allowed_host_header(hosts, host)


def test_origins_are_private_addresses_on_the_servers_port(loopback_lists):
    _, origins = loopback_lists
    for origin in ("http://10.0.0.5:5000", "http://172.20.1.1:5000", "http://192.168.0.7:5000"):
        assert not should_block_cors_request(origin, "POST", origins), origin
    for origin in (
        "http://10.evil.example:5000",
        "http://10.1.2.3.evil.example:5000",
        "http://192.168.1.1.nip.io:5000",
        "http://10.0.0.5:8080",
    ):
        assert should_block_cors_request(origin, "POST", origins), origin


def send(
    url: str, method: str, path: str, host: str | None = None, origin: str | None = None
) -> http.client.HTTPResponse:
    """The response, read, to `method path` sent to the server at `url` with these Host and Origin headers."""
    address = urlparse(url)
    headers = {"Host": host or address.netloc, "Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    body = json.dumps({"name": "created"}) if method == "POST" else None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


GET_DEFAULT = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"


@pytest.mark.drivers
def test_loopback_server_refuses_a_name_that_looks_private(live_server):
    url, _ = live_server
    port = urlparse(url).port
    assert send(url, "GET", GET_DEFAULT, host="10.evil.example").status == 403
    assert send(url, "GET", GET_DEFAULT, host=f"10.evil.example:{port}").status == 403
    assert send(url, "GET", GET_DEFAULT, host=f"10.0.0.5:{port}").status == 200
    assert send(url, "GET", GET_DEFAULT, host=f"127.0.0.1:{port}").status == 200


@pytest.mark.drivers
def test_cross_origin_requests_from_a_name_that_looks_private_are_refused(tmp_path, template_store):
    # Every interface, as for a cluster; the requests still go to 127.0.0.1 only.
    backend = empty_store(template_store, tmp_path / "store")
    with running_server(tmp_path, host="0.0.0.0", backend=backend) as url:
        port = urlparse(url).port
        evil, private = f"http://10.evil.example:{port}", f"http://10.0.0.5:{port}"
        create = "/api/2.0/mlflow/experiments/create"
        created = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=created"
        assert send(url, "POST", create, origin=evil).status == 403
        assert send(url, "GET", created).status == 404
        assert send(url, "POST", create, origin=private).status == 200
        assert send(url, "GET", created).status == 200
        # Nor may a page of that name read responses.
        assert send(url, "GET", GET_DEFAULT, origin=evil).getheader("Access-Control-Allow-Origin") is None
        assert (
            send(url, "GET", GET_DEFAULT, origin=private).getheader("Access-Control-Allow-Origin") == private
        )


@pytest.mark.parametrize(
    ("host", "url"), [("::1", "http://[::1]:5000"), ("127.0.0.1", "http://127.0.0.1:5000")]
)
def test_an_ipv6_host_is_bracketed_in_the_url_workers_take(host, url):
    assert f"export MLFLOW_TRACKING_URI={url}" in server.announcement(host, 5000)
