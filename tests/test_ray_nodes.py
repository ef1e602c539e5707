"""EXECUTOR=ray on a cluster of several nodes, as a lab's cluster is, on this one machine
(`ray.cluster_utils.Cluster`): a head without CPUs at this machine's address, where the driver connects, and
two worker nodes of one CPU and a custom resource each, each at an address of its own on the loopback network
(127.0.0.2, 127.0.0.3), so that Ray and our guards see two machines besides the driver's. `make train
EXECUTOR=ray RAY_ADDRESS=<its address>` refuses a store only this machine reaches; trials log through a `make
server` every node reaches by this machine's name, one for the module.

The cluster is this module's own (conftest's `ray_cluster` is one node, for test_ray_executor.py)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import preloaded
import pytest
from entry_points import ONE_THREAD, REPO
from hooked_train import held
from mlflow import MlflowClient
from tracking_server import running_server
from trial_store import empty_store, trial_runs

pytestmark = pytest.mark.ray

TIMEOUT = 600
WORKER_NODES = ("127.0.0.2", "127.0.0.3")
MAKE = ["make", "--no-print-directory", "--old-file=.venv/.installed"]


@pytest.fixture(scope="module")
def cluster():
    """The head (no CPU: trials run on worker nodes only) and two worker nodes, in a folder of their own."""
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="ray-nodes-"))  # short: Ray's socket paths are limited
    common = {"temp_dir": str(root), "include_dashboard": False, "object_store_memory": 80 * 2**20}
    # The head at the default address: Ray resolves a driver's 127.0.0.1 to this machine's address. A removed
    # node is found dead after 5 failed health checks, one a second (Ray's default: every 3 s, 15 s idle).
    checks = {"health_check_period_ms": 1000, "health_check_failure_threshold": 5}
    nodes = Cluster(initialize_head=True, head_node_args={**common, "num_cpus": 0, "_system_config": checks})
    try:
        for k, address in enumerate(WORKER_NODES):
            nodes.add_node(**common, num_cpus=1, node_ip_address=address, resources={f"node{k}": 1})
        nodes.wait_for_nodes()
        yield nodes
    finally:
        nodes.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def raylet(node) -> int:
    return node.all_processes["raylet"][0].process.pid


def training_nodes(cluster) -> dict[int, object]:
    """The worker nodes running a trial now, by the pid of its worker (a child of the node's raylet)."""
    nodes = {raylet(node): node for node in cluster.worker_nodes}
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or not (entry / "cmdline").read_bytes().startswith(
                b"ray::train_trial"
            ):
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):  # the process ended while we looked
            continue
        if parent in nodes:
            found[int(entry.name)] = nodes[parent]
    return found


def start_training(command: list[str], uri: str, log: Path) -> subprocess.Popen:
    """`command` in its own session, logging to `uri`, its output in `log`, without this process's Ray
    variables; a Python command forked preloaded (`preloaded`), `make` as it is."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(ONE_THREAD, MLFLOW_TRACKING_URI=uri)
    popen = preloaded.Popen if command[0] == sys.executable else subprocess.Popen
    with open(log, "w") as out:
        return popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def make_train(cluster, uri: str, log: Path) -> subprocess.Popen:
    """`make train` of one trial of the toy model on `cluster`."""
    variables = ["DATASET=digits", "TRIALS=1", "ROUNDS=1", "EPOCHS=1", "EXECUTOR=ray"]
    variables += [f"RAY_ADDRESS={cluster.address}", "TRAIN_ARGS=--no-progress-bar --model toy"]
    return start_training([*MAKE, "train", *variables], uri, log)


def held_training(cluster, uri: str, log: Path, folder: Path) -> subprocess.Popen:
    """The same command's training of a trial per worker node, each held once its round 0 is recorded until
    `folder/release` exists (`hooked_train`'s `hold`)."""
    options = ["--dataset", "digits", "--model", "toy", "--trials", str(len(WORKER_NODES))]
    options += ["--rounds", "1", "--epochs", "1", "--no-progress-bar"]
    options += ["--executor", "ray", "--ray-address", cluster.address]
    command = [sys.executable, str(REPO / "tests" / "hooked_train.py"), "hold", str(folder), *options]
    return start_training(command, uri, log)


def finish(process: subprocess.Popen) -> int:
    try:
        return process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, template_store):
    """`make server HOST=0.0.0.0`, as for a cluster: (the URL every node reaches, by this machine's name; the
    same server on loopback). One for the module: a test tells its runs from the others' by their ids."""
    root = tmp_path_factory.mktemp("server")
    backend = empty_store(template_store, root / "store")
    with running_server(root / "server", host="0.0.0.0", backend=backend) as local:
        yield local.replace("127.0.0.1", socket.gethostname()), local


def test_trials_spread_over_the_nodes_and_a_removed_nodes_trial_resumes_elsewhere(
    cluster, shared_server, tmp_path
):
    url, _ = shared_server
    log = tmp_path / "train.log"
    before = {run.info.run_id for run in trial_runs(url)}
    process = held_training(cluster, url, log, tmp_path)
    deadline = time.monotonic() + TIMEOUT
    while held(tmp_path) < len(WORKER_NODES):  # every trial recorded round 0 on its node, and waits there
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    training = training_nodes(cluster)
    assert len(set(map(id, training.values()))) == len(WORKER_NODES), log.read_text()  # a trial on each node
    removed = next(iter(training.values()))
    cluster.remove_node(removed, allow_graceful=False)  # the machine is gone, its worker with it
    (tmp_path / "release").touch()
    assert finish(process) == 0, log.read_text()

    output = log.read_text()
    (resumed,) = re.findall(
        r"(digits trial \d/2): resuming in (digits/trial-\d\d) .* after (\d) completed", output
    )
    assert int(resumed[2]) >= 1, output  # from its last completed round, not from scratch
    runs = [run for run in trial_runs(url) if run.info.run_id not in before]
    # one run a trial, none left RUNNING
    assert [run.info.status for run in runs] == ["FINISHED"] * len(WORKER_NODES), output
    client = MlflowClient(url)
    for run in runs:
        for key, steps in (("test_acc", [0, 1]), ("sparsity", [0, 1]), ("random_test_acc", [1])):
            logged = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert sorted(logged) == steps and max(logged.values()) == 1, (run.info.run_name, key, logged)


@pytest.mark.parametrize("store", ["sqlite", "loopback"])
def test_a_multi_node_cluster_refuses_a_store_only_this_machine_reaches(cluster, tmp_path, store, request):
    before = set()  # the runs already there: the module's server holds the other tests' runs
    if store == "sqlite":
        uri = f"sqlite:///{tmp_path}/mlflow.db"
    else:  # a server only where it is the store: it takes seconds to start
        _, uri = request.getfixturevalue("shared_server")
        before = {run.info.run_id for run in trial_runs(uri)}
    log = tmp_path / "train.log"
    assert finish(make_train(cluster, uri, log)) == 2
    output = log.read_text()
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert line.startswith(
        f"error: EXECUTOR=ray on the Ray cluster at {cluster.address} cannot use the tracking"
    )
    assert "make server HOST=0.0.0.0" in line and "Traceback" not in output
    runs = [run for run in trial_runs(uri) if run.info.run_id not in before]
    assert all(run.info.status != "FINISHED" and not run.data.metrics for run in runs)  # nothing trained
