"""Which Ray clusters count as other machines, and which tracking stores their workers can reach."""

from __future__ import annotations

import socket

import pytest

from lottery.errors import UserError
from lottery.execution.ray_settings import RaySettings, check_store_shared


@pytest.mark.parametrize(
    ("address", "elsewhere"),
    [
        (None, False),
        ("auto", False),
        ("local", False),
        ("127.0.0.1:6379", False),
        ("localhost:6379", False),
        ("ray://127.0.0.1:10001", False),
        (f"{socket.gethostname()}:6379", False),
        ("10.1.2.3:6379", True),
        ("ray://head.cluster.example:10001", True),
    ],
)
def test_which_addresses_name_another_machine(address, elsewhere):
    assert RaySettings(address=address).points_elsewhere() is elsewhere


@pytest.mark.parametrize(
    ("uri", "shared"),
    [
        ("sqlite:///mlruns/mlflow.db", False),
        ("http://127.0.0.1:5000", False),
        ("http://localhost:5000", False),
        ("http://mlflow.lab.example:5000", True),
        ("https://10.0.0.7", True),
        (f"http://{socket.gethostname()}:5000", True),  # this machine's server, bound to 0.0.0.0
    ],
)
def test_only_a_server_other_machines_can_reach_is_shared(uri, shared):
    if shared:
        check_store_shared(uri, "the Ray cluster at head:6379")
    else:
        with pytest.raises(UserError, match="workers on other machines cannot write"):
            check_store_shared(uri, "the Ray cluster at head:6379")


def test_a_local_cluster_may_use_the_local_store():
    RaySettings(address=None).validate("sqlite:///mlruns/mlflow.db")
    RaySettings(address="auto").validate("sqlite:///mlruns/mlflow.db")  # its nodes are checked once connected


def test_a_remote_cluster_needs_a_shared_server():
    with pytest.raises(UserError, match=r"make server HOST=0\.0\.0\.0"):
        RaySettings(address="10.1.2.3:6379").validate("sqlite:///mlruns/mlflow.db")
    RaySettings(address="10.1.2.3:6379").validate("http://mlflow.lab.example:5000")


@pytest.mark.parametrize("gpus", [0.0, 0.25, 1.0, 2.0])
def test_whole_gpus_or_a_fraction_of_one(gpus):
    RaySettings(gpus_per_trial=gpus).validate("sqlite:///mlruns/mlflow.db")
