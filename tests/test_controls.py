"""The controls (`lottery.pruning.controls`) as a registry: the random ticket as today's draw bit for bit, a
registered control running after it with its own streams, artifact and metrics, and resuming without
retraining a control whose metrics are logged. Trains the toy model on the tiny dataset."""

import subprocess
import sys
import types
from dataclasses import replace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from mlflow import MlflowClient
from round_hooks import FailAt, Watch
from trial_store import empty_store, trial_runs
from trial_tasks import train_trial

from lottery import seeds
from lottery.execution.experiment import run_experiment
from lottery.execution.trial import theta0_for
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.pruning import controls
from lottery.pruning import mask as masks
from lottery.pruning.controls import Control, Start
from lottery.tracking import contract

SEED = 5
CONFIG = ExperimentConfig(
    dataset="digits",
    trials=1,
    seed=SEED,
    training=TrainingHparams(epochs=1),
    pruning=PruningHparams(rounds=1, conv_rate=0.5, dense_rate=0.5, output_rate=0.5),
    model="toy",
)


def final_mask_of(trial: int) -> masks.Mask:
    theta0 = theta0_for(SEED, trial, "toy")
    return masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))


def shuffle_within_layers(final_mask, weights, rng):
    """A test-only control: each layer's kept positions permuted."""
    shuffled = {
        n: torch.from_numpy(rng.permutation(m.numpy().ravel()).reshape(m.shape))
        for n, m in final_mask.items()
    }
    return Start(shuffled, weights)


SHUFFLED = Control(
    name="shuffled",
    title="shuffled ticket",
    derive=shuffle_within_layers,
    records="mask",
)


@pytest.fixture
def with_shuffled(monkeypatch):
    """SHUFFLED registered after the random ticket, as a module of its own."""
    module = types.ModuleType("lottery_test_shuffled_control")
    module.CONTROL = SHUFFLED
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(controls.CONTROLS, "shuffled", module.__name__)


def quiet(uri, lines=None, hooks=()):
    """Train CONFIG with the random ticket and the shuffled one."""
    say = (lambda line: None) if lines is None else lines.append
    config = replace(CONFIG, controls="shuffled,random")
    return run_experiment(config, "unused", uri, say=say, show_progress=False, hooks=hooks)


def load(uri, run_id, path, tmp_path) -> dict[str, np.ndarray]:
    local = MlflowClient(uri).download_artifacts(run_id, path, dst_path=str(tmp_path))
    with np.load(local, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def steps(uri, run_id, key) -> list[int]:
    return [m.step for m in MlflowClient(uri).get_metric_history(run_id, key)]


def test_the_random_ticket_keeps_the_final_tickets_counts_and_its_seed_reproduces_it():
    random_ticket = controls.control("random")
    final, theta0 = final_mask_of(1), theta0_for(SEED, 1, "toy")
    start = random_ticket.start(final, theta0, SEED, 1)
    drawn = start.mask
    assert start.weights is theta0
    assert masks.counts(drawn) == masks.counts(final)
    assert any(not torch.equal(drawn[n], final[n]) for n in final)
    again = random_ticket.start(final, theta0, SEED, 1).mask
    assert all(torch.equal(drawn[n], again[n]) for n in final)
    other_trial = random_ticket.start(final, theta0, SEED, 2).mask
    assert any(not torch.equal(drawn[n], other_trial[n]) for n in final)


def test_the_random_ticket_is_todays_draw_bit_for_bit_under_todays_names():
    random_ticket = controls.control("random")
    for seed, trial in [(0, 0), (SEED, 1), (12345, 7)]:
        final = final_mask_of(trial)
        drawn = random_ticket.start(final, theta0_for(SEED, trial, "toy"), seed, trial).mask
        today = masks.random_like(final, seeds.numpy_rng(seed, trial, seeds.RANDOM_TICKET_STREAM))
        assert all(torch.equal(drawn[n], today[n]) for n in final)
        assert random_ticket.batches_entropy(seed, trial) == (seed, trial, seeds.RANDOM_BATCHES_STREAM)
    assert random_ticket.artifact == contract.RANDOM_MASK_ARTIFACT == "ticket/random_mask.npz"
    assert random_ticket.metrics == ("random_test_acc", "random_test_loss")
    assert [c.name for c in controls.registered()] == ["random", "reinit", "signs", "flipped"]


def test_a_new_control_shifts_no_stream_and_clashes_are_refused(with_shuffled, monkeypatch):
    registered = {c.name: c for c in controls.registered()}
    random_ticket, shuffled = registered["random"], registered["shuffled"]
    assert random_ticket.streams == (seeds.RANDOM_TICKET_STREAM, seeds.RANDOM_BATCHES_STREAM)
    assert shuffled.streams == (
        seeds.name_stream("shuffled", "draws"),
        seeds.name_stream("shuffled", "batches"),
    )
    streams = [s for c in registered.values() for s in c.streams]
    assert len({*streams, seeds.INIT_STREAM, seeds.IMP_BATCHES_STREAM}) == len(streams) + 2

    clash = types.ModuleType("lottery_test_clashing_control")
    clash.CONTROL = Control(
        "clash", "clash", shuffle_within_layers, legacy_streams=lambda: random_ticket.streams
    )
    monkeypatch.setitem(sys.modules, clash.__name__, clash)
    monkeypatch.setitem(controls.CONTROLS, "clash", clash.__name__)
    with pytest.raises(ValueError, match="share a stream"):
        controls.registered()


def test_the_controls_and_the_contract_load_without_torch():
    code = (
        "import sys, lottery.tracking.contract as c, lottery.pruning.controls as r; r.registered(); "
        "print(c.RANDOM_MASK_ARTIFACT, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["ticket/random_mask.npz", "False"]


def test_every_control_names_what_it_logs_by_the_contracts_scheme():
    # the stored names, spelled out: stores written before read the same
    artifacts = {
        "random": "ticket/random_mask.npz",
        "reinit": "ticket/reinit_init.npz",
        "signs": "ticket/signs_init.npz",
        "flipped": "ticket/flipped_init.npz",
    }
    assert {c.name: c.artifact for c in controls.registered()} == artifacts
    for c in controls.registered():
        assert c.metrics == (f"{c.name}_test_acc", f"{c.name}_test_loss")
    assert SHUFFLED.artifact == "ticket/shuffled_mask.npz"


class BatchOrders(pl.Callback):
    """What seeds the batch order of each fit it runs in, in order."""

    def __init__(self) -> None:
        self.entropies: list[tuple[int, ...]] = []

    def on_fit_start(self, trainer, module) -> None:
        self.entropies.append(trainer.datamodule.train_batches.seed_entropy)


def test_a_registered_control_runs_after_the_random_ticket_with_its_own_streams(
    store_uri, tiny_data, with_shuffled, tmp_path
):
    watch, orders, lines = Watch(), BatchOrders(), []
    config = replace(CONFIG, controls="shuffled,random")
    train_trial(store_uri, config, tiny_data, callbacks=[orders], hooks=[watch], say=lines.append)
    assert watch.controls == ["random", "shuffled"]
    assert orders.entropies[1:] == [
        (SEED, 0, seeds.RANDOM_BATCHES_STREAM),
        (SEED, 0, seeds.name_stream("shuffled", "batches")),
    ]
    (run,) = trial_runs(store_uri)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    for key in ("random_test_acc", "random_test_loss", "shuffled_test_acc", "shuffled_test_loss"):
        assert steps(store_uri, run_id, key) == [CONFIG.pruning.rounds]
    final = load(store_uri, run_id, contract.round_mask_artifact(1), tmp_path / "final")
    random = load(store_uri, run_id, contract.RANDOM_MASK_ARTIFACT, tmp_path / "random")
    shuffled = load(store_uri, run_id, SHUFFLED.artifact, tmp_path / "shuffled")
    today = masks.random_like(masks.from_numpy(final), seeds.numpy_rng(SEED, 0, seeds.RANDOM_TICKET_STREAM))
    for n, kept in final.items():
        assert np.array_equal(random[n], today[n].numpy())
        assert shuffled[n].dtype == np.bool_ and shuffled[n].sum() == kept.sum()
        assert not np.array_equal(shuffled[n], random[n])
    assert any("random ticket" in line and "shuffled ticket" in line for line in lines)


def test_a_run_interrupted_after_the_random_ticket_resumes_without_retraining_it(
    store_uri, tiny_data, with_shuffled, tmp_path, template_store
):
    with pytest.raises(KeyboardInterrupt):
        quiet(store_uri, hooks=[FailAt(KeyboardInterrupt(), start="shuffled")])
    (run,) = trial_runs(store_uri)
    assert run.info.status == "KILLED"
    assert steps(store_uri, run.info.run_id, "random_test_acc") == [1]
    assert steps(store_uri, run.info.run_id, "shuffled_test_acc") == []

    watch = Watch()
    quiet(store_uri, hooks=[watch])
    assert watch.controls == ["shuffled"]
    (after,) = trial_runs(store_uri)
    assert after.info.run_id == run.info.run_id and after.info.status == "FINISHED"
    for key in ("random_test_acc", "random_test_loss", "shuffled_test_acc", "shuffled_test_loss"):
        assert steps(store_uri, run.info.run_id, key) == [1]

    uninterrupted = empty_store(template_store, tmp_path / "uninterrupted")
    quiet(uninterrupted)
    other = trial_runs(uninterrupted)[0].info.run_id
    for path in (contract.RANDOM_MASK_ARTIFACT, SHUFFLED.artifact):
        a = load(store_uri, run.info.run_id, path, tmp_path / "a")
        b = load(uninterrupted, other, path, tmp_path / "b")
        assert a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a)
    for key in ("random_test_acc", "shuffled_test_acc"):
        resumed = MlflowClient(store_uri).get_metric_history(run.info.run_id, key)[0].value
        assert resumed == MlflowClient(uninterrupted).get_metric_history(other, key)[0].value


def test_controls_whose_metrics_are_logged_are_skipped_on_resume(store_uri, tiny_data, with_shuffled):
    with pytest.raises(KeyboardInterrupt):
        quiet(store_uri, hooks=[FailAt(KeyboardInterrupt(), end="shuffled")])  # the last control
    watch = Watch()
    lines = []
    quiet(store_uri, lines, hooks=[watch])
    assert watch.controls == []
    (run,) = trial_runs(store_uri)
    assert run.info.status == "FINISHED"
    assert steps(store_uri, run.info.run_id, "shuffled_test_acc") == [1]
    assert any("shuffled ticket" in line for line in lines)
