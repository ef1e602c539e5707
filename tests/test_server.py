"""`make server`: a real tracking server that proxies artifacts, and one clear line for every user error."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import sys
from urllib.parse import urlparse

import pytest
from entry_points import refused
from mlflow.server.security_utils import is_allowed_host_header, should_block_cors_request
from tracking_server import free_port, running_server

from experiments import server
from lottery.tracking import store
from lottery.tracking.trial_record import TrialRecord


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


def run_cli(capsys, monkeypatch, *args: str) -> str:
    """`main(args)`, which must fail before it would replace this process with `mlflow server`."""
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail(f"would have started a server: {a}"))
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


def test_postgres_without_its_driver(capsys, monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg2" else find_spec(name, *a)
    )
    uri = "postgresql://lottery:s3cret@db.example.org/mlflow"
    err = run_cli(capsys, monkeypatch, "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path))
    assert "psycopg2" in err and "install -e '.[postgres]'" in err and "s3cret" not in err


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


def exec_command(capsys, monkeypatch, *args: str) -> tuple[list[str], str, str]:
    """The `mlflow server` command line `main(args)` would exec, and its stdout and stderr."""
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    # Recorded as unset, so that the default main sets for the server does not outlive the test.
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "unset")
    monkeypatch.delenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION")
    server.main(list(args))
    (argv,) = calls
    captured = capsys.readouterr()
    return argv, captured.out, captured.err


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def unset_mlflow_variables(monkeypatch) -> None:
    for variable in ("MLFLOW_SERVER_ALLOWED_HOSTS", "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"):
        monkeypatch.delenv(variable, raising=False)


def test_local_store_folders_are_created(capsys, monkeypatch, tmp_path):
    unset_mlflow_variables(monkeypatch)
    argv, out, err = exec_command(capsys, monkeypatch, "--port", str(free_port()), *store_args(tmp_path))
    assert (tmp_path / "store").is_dir() and (tmp_path / "artifacts").is_dir()
    assert argv[0] == os.path.join(os.path.dirname(sys.executable), "mlflow") and argv[1] == "server"
    assert option(argv, "--artifacts-destination") == str(tmp_path / "artifacts")
    assert "--serve-artifacts" in argv
    # On loopback too, since MLflow's own defaults ("10.*") accept names.
    assert "10.*" not in option(argv, "--allowed-hosts").split(",")
    assert "export MLFLOW_TRACKING_URI=http://127.0.0.1:" in out
    assert err == "" and os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


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
    argv, out, _ = exec_command(capsys, monkeypatch, *args)
    assert f"export MLFLOW_TRACKING_URI=http://head-node:{port}" in out

    hosts = option(argv, "--allowed-hosts").split(",")
    for host in (f"head-node:{port}", f"mlflow.lab.example:{port}", f"10.1.2.3:{port}", f"localhost:{port}"):
        assert is_allowed_host_header(hosts, host), host
    for host in (f"attacker.example:{port}", f"10.evil.example:{port}"):
        assert not is_allowed_host_header(hosts, host), host

    # The UI's own POSTs carry its origin, which MLflow's CORS check refuses unless it is listed.
    origins = option(argv, "--cors-allowed-origins").split(",")
    for origin in (
        f"http://head-node:{port}",
        f"http://mlflow.lab.example:{port}",
        f"http://192.168.0.7:{port}",
    ):
        assert not should_block_cors_request(origin, "POST", origins), origin
    for origin in ("http://attacker.example", f"http://10.evil.example:{port}"):
        assert should_block_cors_request(origin, "POST", origins), origin


def test_mlflow_variables_win(monkeypatch):
    monkeypatch.setenv("MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", "https://notebooks.lab.example")
    monkeypatch.delenv("MLFLOW_SERVER_ALLOWED_HOSTS", raising=False)
    argv = server.security_options("0.0.0.0", 5000, "")
    assert option(argv, "--allowed-hosts") and option(argv, "--cors-allowed-origins") is None


def test_cluster_warned_about_experiments_with_local_artifacts(capsys, monkeypatch, tmp_path, store_uri):
    store.experiment_id(store.connect(store_uri), "digits")  # as `make train` does without a server
    args = ["--host", "0.0.0.0", "--port", str(free_port()), "--backend-store-uri", store_uri]
    _, _, err = exec_command(
        capsys, monkeypatch, *args, "--artifacts-destination", str(tmp_path / "artifacts")
    )
    (note,) = err.strip().splitlines()
    assert note.startswith("note: experiments digits keep their artifacts in local folders")


@pytest.fixture
def loopback_lists(monkeypatch) -> tuple[list[str], list[str]]:
    """The Host and origin patterns `make server` gives a loopback server on port 5000."""
    unset_mlflow_variables(monkeypatch)
    argv = server.security_options("127.0.0.1", 5000, "")
    return option(argv, "--allowed-hosts").split(","), option(argv, "--cors-allowed-origins").split(",")


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
    with running_server(tmp_path, host="0.0.0.0", store=template_store) as url:
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
