"""Late rewinding (`--rewind-step k`): θ_k is the network after k optimizer steps of round 0, logged as
`ticket/rewind.npz` before round 0 counts as done; every later round and every control starts from it, a
resumed trial included; k enters the configuration's digest. Trains the toy model on the tiny dataset."""

from dataclasses import replace

import numpy as np
import pytest
import pytorch_lightning as pl
from mlflow import MlflowClient
from round_hooks import after_round, interrupt
from trial_store import artifact, empty_store, trial_runs

from lottery.errors import UserError
from lottery.execution import trial as trial_module
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models import configured
from lottery.tracking import contract
from lottery.training.classifier import MaskedClassifier

K = 3  # of round 0's 4 steps: 2 epochs of the tiny dataset's 2 batches
CONFIG = ExperimentConfig(
    dataset="digits",
    trials=1,
    seed=4,
    training=TrainingHparams(epochs=2),
    pruning=PruningHparams(rounds=2, rewind_step=K),
    model="toy",
    controls="random,flipped",
)


def quiet(uri, config=CONFIG):
    return run_experiment(config, "unused", uri, say=lambda line: None, show_progress=False)


class StepRecorder(pl.Callback):
    """The prunable weights after every optimizer step of the fits it is added to, by global step."""

    def __init__(self) -> None:
        self.after: dict[int, dict[str, np.ndarray]] = {}

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.after[trainer.global_step] = {n: w.cpu().numpy().copy() for n, w in module.weights().items()}


@pytest.fixture
def round_0_steps(monkeypatch) -> StepRecorder:
    """Records the steps of the first fit a trial runs (round 0 on, when it starts at round 0)."""
    recorder, original = StepRecorder(), trial_module.fit
    calls = []

    def fit(module, data, config, epochs, callbacks=(), show_progress=True):
        calls.append(1)
        extra = [recorder] if len(calls) == 1 else []
        return original(module, data, config, epochs, [*callbacks, *extra], show_progress)

    monkeypatch.setattr(trial_module, "fit", fit)
    return recorder


@pytest.fixture
def resets(monkeypatch) -> list[dict[str, np.ndarray]]:
    """The weights every MaskedClassifier.reset_to was given (unmasked), in order."""
    given, original = [], MaskedClassifier.reset_to

    def spy(self, theta0, mask=None):
        given.append({n: w.cpu().numpy().copy() for n, w in theta0.items()})
        original(self, theta0, mask)

    monkeypatch.setattr(MaskedClassifier, "reset_to", spy)
    return given


def test_rounds_and_controls_restart_from_the_weights_after_k_steps(
    store_uri, tiny_data, round_0_steps, resets, tmp_path
):
    quiet(store_uri)
    (run,) = trial_runs(store_uri)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED" and run.data.tags[contract.TAG_REWIND_STEP] == str(K)
    assert run.data.params["rewind_step"] == str(K)
    rewind = artifact(store_uri, run_id, contract.REWIND_ARTIFACT, tmp_path / "rewind")
    theta0 = artifact(store_uri, run_id, contract.INIT_ARTIFACT, tmp_path / "init")
    after_k = round_0_steps.after[K]
    assert all(np.array_equal(rewind[n], after_k[n]) for n in rewind)  # exactly step k's weights
    assert not any(np.array_equal(rewind[n], theta0[n]) for n in rewind)
    assert not np.array_equal(round_0_steps.after[K + 1]["dense1"], rewind["dense1"])
    # resets: round 0 from θ0 (construction), rounds 1 and 2 from θ_k, then each control from θ_k (flipped)
    starts = [next(iter(r.values())) for r in resets]
    first = next(iter(rewind))
    assert np.array_equal(starts[0], theta0[first])
    for index in (1, 2, 3):  # round 1's reset, round 2's reset, the random ticket's construction
        assert np.array_equal(starts[index], rewind[first]), index
    flipped = artifact(store_uri, run_id, "ticket/flipped_init.npz", tmp_path / "flipped")
    assert all(np.array_equal(flipped[n], -rewind[n]) for n in rewind)
    client = MlflowClient(store_uri)
    for key in ("random_test_acc", "flipped_test_acc"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [CONFIG.pruning.rounds]


def test_a_resumed_trial_rewinds_to_its_stored_weights(
    store_uri, tiny_data, monkeypatch, template_store, tmp_path
):
    undo = after_round(monkeypatch, 1, interrupt)
    with pytest.raises(KeyboardInterrupt):
        quiet(store_uri)
    undo()
    quiet(store_uri)
    uninterrupted = empty_store(template_store, tmp_path / "uninterrupted")
    quiet(uninterrupted)
    (resumed,), (whole,) = trial_runs(store_uri), trial_runs(uninterrupted)
    assert resumed.info.status == whole.info.status == "FINISHED"
    for path in (contract.REWIND_ARTIFACT, contract.WINNING_MASK_ARTIFACT, "ticket/flipped_init.npz"):
        a = artifact(store_uri, resumed.info.run_id, path, tmp_path / "a")
        b = artifact(uninterrupted, whole.info.run_id, path, tmp_path / "b")
        assert all(np.array_equal(a[n], b[n]) for n in a), path
    client = MlflowClient(store_uri)
    steps = [m.step for m in client.get_metric_history(resumed.info.run_id, "test_acc")]
    assert sorted(steps) == [0, 1, 2]


def test_the_rewind_step_enters_the_digest_and_is_bounded_by_round_0(store_uri, tiny_data):
    at_theta0 = configured(replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=0)))
    assert configured(CONFIG).config_id() != at_theta0.config_id()
    beyond = replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=5))
    (outcome,) = quiet(store_uri, beyond)
    assert "rewind step 5 lies beyond round 0, which takes 4 steps" in outcome.error and not outcome.crashed
    with pytest.raises(UserError, match="rewind step must be >= 0"):
        replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=-1))
