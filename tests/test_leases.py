"""One driver per trial, by construction: drivers sharing a configuration, a dead driver's trial taken over,
a stalled driver that lost its lease writing nothing, and the claim as an atomic compare-and-set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter

import preloaded
import pytest
from entry_points import ONE_THREAD, REPO
from mlflow import MlflowClient
from tracking_server import app_server, running_server
from trial_store import trial_runs

from analysis.__main__ import main as analyze
from lottery.execution.experiment import run_experiment
from lottery.execution.scheduler import Scheduler
from lottery.execution.trial_hooks import TrialHook
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking import contract, store
from lottery.tracking.contract import LEASE_PARAM_PREFIX
from lottery.tracking.lease import HOLDER, TTL_ENV, LeaseLost, Leases, LeaseState, renewal
from lottery.tracking.trial_record import TrialRecord

CONFIG = ExperimentConfig(
    dataset="digits",
    trials=2,
    training=TrainingHparams(epochs=1),
    pruning=PruningHparams(rounds=1),
    model="toy",  # leases are the subject, not the network
)
TIMEOUT = 300


def quiet(uri, lines=None, hooks=()):
    say = (lambda line: None) if lines is None else lines.append
    return run_experiment(CONFIG, "unused", uri, say=say, show_progress=False, hooks=hooks)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def created(client, dataset) -> str:
    """A new run of trial 0 of CONFIG, unclaimed."""
    return Scheduler(client, CONFIG, dataset, Leases(client), say=lambda line: None)._create(0).info.run_id


def claimed_by(client, dataset, holder: str) -> str:
    """A run of trial 0 of CONFIG, created and claimed (generation 1) by `holder`."""
    run = client.get_run(created(client, dataset))
    client.log_param(run.info.run_id, f"{LEASE_PARAM_PREFIX}1", f"{holder} {store.now_ms()}")
    return run.info.run_id


def assert_each_trial_trained_once(uri: str, trials: int) -> None:
    runs = trial_runs(uri)
    assert sorted(int(r.data.tags[contract.TAG_TRIAL]) for r in runs) == list(range(trials))
    assert {r.info.status for r in runs} == {"FINISHED"}
    client = MlflowClient(uri)
    for run in runs:
        for key in ("test_acc", "sparsity", "random_test_acc"):
            steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert steps and max(steps.values()) == 1, f"{run.info.run_name}: {key} logged twice"


def test_a_dead_drivers_trial_is_taken_over_at_once(store_uri, tiny_data):
    client = store.connect(store_uri)
    run_id = claimed_by(client, tiny_data, f"{socket.gethostname()}:{dead_pid()}:gone")
    lines = []
    quiet(store_uri, lines)
    assert not any("waiting" in line for line in lines)
    assert_each_trial_trained_once(store_uri, 2)
    taken = client.get_run(run_id)
    assert taken.info.status == "FINISHED" and taken.data.params[f"{LEASE_PARAM_PREFIX}2"].startswith(
        f"{HOLDER} "
    )


def renew(client, run_id: str, holder: str, seconds: float) -> None:
    """`holder` renews its generation-1 lease on the run, to expire `seconds` from now."""
    client.set_tag(run_id, contract.TAG_LEASE, renewal(1, holder, store.now_ms() + int(seconds * 1000)))


class LastRenewal(TrialHook):
    """The other driver renews its lease one last time, to expire `seconds` later, once this driver has
    recorded round 0 of its own trial (index 1): the lease lapses while this driver finishes that trial."""

    def __init__(self, client, run_id: str, holder: str, seconds: float) -> None:
        self.client, self.run_id, self.holder, self.seconds = client, run_id, holder, seconds

    def round_end(self, trial, result) -> None:
        if trial == 1 and result.round == 0:
            renew(self.client, self.run_id, self.holder, self.seconds)


def test_a_trial_held_elsewhere_is_waited_for_then_taken_over_when_its_lease_expires(
    store_uri, tiny_data, monkeypatch
):
    monkeypatch.setenv(TTL_ENV, "2")  # a waiting driver looks again every 0.5 s
    client = store.connect(store_uri)
    holder = "another-machine:1234:abcdef"
    run_id = claimed_by(client, tiny_data, holder)
    renew(client, run_id, holder, seconds=60)  # live when this driver first looks, however loaded the machine
    lines = []
    outcomes = quiet(store_uri, lines, hooks=[LastRenewal(client, run_id, holder, seconds=0.2)])
    (waiting,) = [line for line in lines if "waiting" in line]
    assert waiting.startswith("digits trial 1/2: being trained by the driver 1234 on another-machine")
    assert sorted(o.task.index for o in outcomes) == [0, 1]
    assert_each_trial_trained_once(store_uri, 2)
    assert LeaseState.of(client.get_run(run_id)).generation == 2


def test_a_writer_whose_lease_was_taken_over_stops_without_writing(store_uri, tiny_digits):
    client = store.connect(store_uri)
    leases = Leases(client)
    run_id = claimed_by(client, tiny_digits, "stalled-laptop:1:abcdef")
    renew(client, run_id, "stalled-laptop:1:abcdef", seconds=-60)  # expired while it was suspended
    generation = leases.claim(client.get_run(run_id))
    assert generation == 2
    stale = TrialRecord.open(client, run_id, generation=1)
    with pytest.raises(LeaseLost, match="taken over by the driver"):
        stale.log_metrics({"test_acc": 0.5}, step=0)
    assert client.get_metric_history(run_id, "test_acc") == []
    TrialRecord.open(client, run_id, generation=2).log_metrics({"test_acc": 0.5}, step=0)


CLAIM = """
import sys
from lottery.tracking import store
from lottery.tracking.lease import Leases
client = store.connect(sys.argv[1])
print(Leases(client).claim(client.get_run(sys.argv[2])), flush=True)
sys.stdin.read()  # alive until every driver has claimed: a dead claimant's lease is taken over at once
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def race_store(request, tmp_path):
    """Where claimants race: a SQLite file they all open, or `make server` (two workers) over PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("store_uri")
        return
    backend = request.getfixturevalue("postgres").database()
    with running_server(tmp_path / "server", backend=backend, workers=2) as url:
        yield url


@pytest.mark.drivers
def test_of_drivers_claiming_one_run_at_once_exactly_one_wins(race_store, tiny_digits):
    client = store.connect(race_store)
    run_id = created(client, tiny_digits)
    claims = [
        preloaded.Popen(
            [sys.executable, "-c", CLAIM, race_store, run_id],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [claim.stdout.readline().strip() for claim in claims]
    for claim in claims:
        claim.communicate(timeout=TIMEOUT)
    assert sorted(results) == ["1", "None", "None", "None"]


def start_driver(uri: str, log) -> preloaded.Popen:
    """`python -m experiments.train` on the real digits dataset, 3 tiny trials of the toy model."""
    # A driver waiting for the other's trials looks again every TTL / 4: 2.5 s, not the default's 15 s.
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, **ONE_THREAD, **{TTL_ENV: "10"})
    args = ["--dataset", "digits", "--model", "toy", "--trials", "3", "--rounds", "1", "--epochs", "1"]
    return preloaded.Popen(
        [sys.executable, "-m", "experiments.train", *args, "--no-progress-bar"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=log,
        text=True,
    )


def two_drivers_at_once(uri: str, tmp_path) -> list[str]:
    logs = [open(tmp_path / f"driver-{k}.log", "w+") for k in range(2)]  # noqa: SIM115
    drivers = [start_driver(uri, log) for log in logs]
    codes = [driver.wait(timeout=TIMEOUT) for driver in drivers]
    texts = []
    for log in logs:
        log.seek(0)
        texts.append(log.read())
        log.close()
    assert codes == [0, 0], texts
    return texts


def trained_here(text: str) -> int:
    (summary,) = [line for line in text.splitlines() if "trained by this command" in line]
    return int(summary.split(": ")[1].split(" ")[0])


@pytest.mark.drivers
def test_two_drivers_of_one_configuration_on_one_sqlite_store_share_its_trials(tmp_path):
    (tmp_path / "store").mkdir()
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"  # not there yet: both drivers create it, as users do
    texts = two_drivers_at_once(uri, tmp_path)
    assert_each_trial_trained_once(uri, 3)
    assert sum(trained_here(text) for text in texts) == 3


@pytest.mark.drivers
def test_two_drivers_of_one_configuration_on_one_server_share_its_trials_and_are_analysed(
    tmp_path, backend_store_uri, monkeypatch, undrawn
):
    with app_server(tmp_path / "server", backend_store_uri) as url:
        texts = two_drivers_at_once(url, tmp_path)
        assert_each_trial_trained_once(url, 3)
        assert sum(trained_here(text) for text in texts) == 3
        if backend_store_uri.startswith("sqlite"):
            # The analysis reads through the server, whatever store is behind it: analysed over PostgreSQL
            # here, and over SQLite by test_ray_executor.py (`make analyze` through `make server`).
            return
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("LOTTERY_CACHE_DIR", str(tmp_path / "cache"))
        analyze(["--pairs", "4", "-K", "3", "--tie-draws", "3"])  # the fewest draws: the runs are the subject
        client = MlflowClient(url)
        (analysis,) = client.search_runs(
            [client.get_experiment_by_name("analysis").experiment_id],
            filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
        )
        assert analysis.info.status == "FINISHED"
        assert sorted(analysis.data.params["source_runs"].split(",")) == sorted(
            run.info.run_id for run in trial_runs(url)
        )
