"""Which Ray clusters count as other machines, which tracking stores their workers can reach, which settings
are refused, and which cluster addresses are probed before Ray is started (never a real network here)."""

from __future__ import annotations

import socket

import pytest

from lottery.errors import UserError
from lottery.execution import ray_settings
from lottery.execution.ray_settings import RaySettings, check_store_shared

LOCAL_STORE = "sqlite:///mlruns/mlflow.db"
SHARED_SERVER = "http://mlflow.lab.example:5000"


@pytest.fixture
def probes(monkeypatch) -> list[tuple[str, int]]:
    """Every (host, port) `check_reachable` tries to connect to, each answering at once."""
    tried: list[tuple[str, int]] = []

    class Answered:
        def close(self) -> None:
            pass

    def connect(address, timeout=None):
        tried.append(address)
        return Answered()

    monkeypatch.setattr(ray_settings.socket, "create_connection", connect)
    return tried


@pytest.mark.parametrize(
    ("address", "endpoint", "elsewhere"),
    [
        (None, None, False),
        ("auto", None, False),
        ("local", None, False),
        ("127.0.0.1:6379", ("127.0.0.1", 6379), False),
        ("localhost:6379", ("localhost", 6379), False),
        ("ray://127.0.0.1:10001", ("127.0.0.1", 10001), False),
        (f"{socket.gethostname()}:6379", (socket.gethostname(), 6379), False),
        ("10.1.2.3:6379", ("10.1.2.3", 6379), True),
        ("ray://head.cluster.example:10001", ("head.cluster.example", 10001), True),
    ],
)
def test_which_addresses_name_another_machine(address, endpoint, elsewhere):
    settings = RaySettings(address=address)
    assert settings.endpoint() == endpoint
    assert settings.points_elsewhere() is elsewhere
    assert settings.cluster == (f"the Ray cluster at {address}" if address else "a local Ray cluster")


@pytest.mark.parametrize(
    ("uri", "shared"),
    [
        (LOCAL_STORE, False),
        ("http://127.0.0.1:5000", False),
        ("http://localhost:5000", False),
        ("http://0.0.0.0:5000", False),
        (SHARED_SERVER, True),
        ("https://10.0.0.7", True),
        (f"http://{socket.gethostname()}:5000", True),  # this machine's server, bound to 0.0.0.0
    ],
)
def test_only_a_server_other_machines_can_reach_is_shared(uri, shared):
    refusals = []
    try:
        check_store_shared(uri, "the Ray cluster at head:6379")
    except UserError as error:
        refusals.append(str(error))
    if shared:
        assert refusals == []
    else:
        (refusal,) = refusals
        assert refusal.startswith(
            f"EXECUTOR=ray on the Ray cluster at head:6379 cannot use the tracking store {uri}"
        )
        assert "workers on other machines cannot write" in refusal and "make server HOST=0.0.0.0" in refusal


@pytest.mark.parametrize("address", [None, "auto", "local"])
def test_a_cluster_found_through_this_machine_takes_the_local_store_unprobed(probes, address):
    RaySettings(address=address).check_reachable(LOCAL_STORE)  # `auto`'s nodes are checked once connected
    assert probes == []


def test_a_local_cluster_at_an_address_takes_the_local_store_once_it_answers(probes):
    RaySettings(address="127.0.0.1:6379").check_reachable(LOCAL_STORE)
    assert probes == [("127.0.0.1", 6379)]


def test_a_remote_cluster_needs_a_shared_server_before_it_is_probed(probes):
    with pytest.raises(UserError, match=r"make server HOST=0\.0\.0\.0"):
        RaySettings(address="10.1.2.3:6379").check_reachable(LOCAL_STORE)
    assert probes == []  # refused before any connection
    RaySettings(address="10.1.2.3:6379").check_reachable(SHARED_SERVER)
    assert probes == [("10.1.2.3", 6379)]


def test_a_cluster_nothing_answers_at_is_one_line(monkeypatch):
    def refused(address, timeout=None):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(ray_settings.socket, "create_connection", refused)
    with pytest.raises(UserError) as error:
        RaySettings(address="127.0.0.1:1").check_reachable(LOCAL_STORE)
    assert str(error.value).startswith("cannot reach the Ray cluster at 127.0.0.1:1 (Connection refused)")


@pytest.mark.parametrize(
    ("gpus", "valid"),
    [(None, True), (0.0, True), (0.25, True), (1.0, True), (2.0, True), (1.5, False), (-0.25, False)],
)
def test_whole_gpus_or_a_fraction_of_one(probes, gpus, valid):
    if valid:
        RaySettings(gpus_per_trial=gpus).check_reachable(LOCAL_STORE)
        assert probes == []
    else:
        with pytest.raises(
            UserError, match=rf"GPUS_PER_TRIAL must be a fraction in \[0, 1\] .*, got {gpus}$"
        ):
            RaySettings(gpus_per_trial=gpus)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"cpus_per_trial": 0}, "CPUS_PER_TRIAL must be > 0, got 0"),
        ({"max_retries": -1}, "the number of retries must be >= 0, got -1"),
    ],
)
def test_other_bad_settings_are_refused_where_built(setting, message):
    with pytest.raises(UserError) as error:
        RaySettings(**setting)
    assert str(error.value) == message
