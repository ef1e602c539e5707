"""Late rewinding (`--rewind-step k`): θ_k is the network after k optimizer steps of round 0, logged as
`ticket/rewind.npz` before round 0 counts as done; every later round and every control starts from it, a
resumed trial included; k enters the configuration's digest. Trains the toy model on the tiny dataset."""

from dataclasses import replace

import numpy as np
import pytest
import pytorch_lightning as pl
from mlflow import MlflowClient
from round_hooks import AfterRound, interrupt
from trial_store import artifact, empty_store, trial_runs
from trial_tasks import train_trial

from lottery.errors import UserError
from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models.toy import Network as Toy
from lottery.tracking import contract

LAYERS = Toy.SPEC.layer_names
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


def quiet(uri, config=CONFIG, hooks=()):
    return run_experiment(config, "unused", uri, say=lambda line: None, show_progress=False, hooks=hooks)


def prunable(module) -> dict[str, np.ndarray]:
    return {n: module.model.layer(n).weight.detach().cpu().numpy().copy() for n in LAYERS}


class StepRecorder(pl.Callback):
    """The prunable weights after each optimizer step of the first fit it sees (round 0 on), by step."""

    def __init__(self) -> None:
        self.after: dict[int, dict[str, np.ndarray]] = {}
        self.fits = 0

    def on_train_start(self, trainer, module) -> None:
        self.fits += 1

    def on_train_batch_end(self, trainer, module, *args) -> None:
        if self.fits == 1:
            self.after[trainer.global_step] = prunable(module)


class PhaseStarts(pl.Callback):
    """The prunable weights each round and control starts training from, in order (after the IMP callback
    set them: it runs first)."""

    def __init__(self) -> None:
        self.starts: list[dict[str, np.ndarray]] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch % CONFIG.training.epochs == 0:
            self.starts.append(prunable(module))


@pytest.fixture(scope="module")
def watched(tmp_path_factory, template_store, tiny_digits):
    """Trial 0 of CONFIG trained once, uninterrupted, into a store of its own, watched by a StepRecorder and
    PhaseStarts: the store's URI and the two callbacks."""
    uri = empty_store(template_store, tmp_path_factory.mktemp("uninterrupted"))
    steps, phases = StepRecorder(), PhaseStarts()
    train_trial(uri, CONFIG, tiny_digits, [steps, phases])
    return uri, steps, phases


def test_rounds_and_controls_restart_from_the_weights_after_k_steps(watched, tmp_path):
    store_uri, steps, phases = watched
    (run,) = trial_runs(store_uri)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED" and run.data.tags[contract.TAG_REWIND_STEP] == str(K)
    assert run.data.params["rewind_step"] == str(K)
    paths = (contract.REWIND_ARTIFACT, contract.INIT_ARTIFACT, "rounds/1/mask.npz", "rounds/2/mask.npz")
    paths += (contract.RANDOM_MASK_ARTIFACT, "ticket/flipped_init.npz")
    stored = {path: artifact(store_uri, run_id, path, tmp_path / path.replace("/", "_")) for path in paths}
    rewind, theta0 = stored[contract.REWIND_ARTIFACT], stored[contract.INIT_ARTIFACT]
    after_k = steps.after[K]
    assert all(np.array_equal(rewind[n], after_k[n]) for n in rewind)  # exactly step k's weights
    assert not any(np.array_equal(rewind[n], theta0[n]) for n in rewind)
    assert not np.array_equal(steps.after[K + 1]["dense1"], rewind["dense1"])
    # round 0 from θ0; rounds 1 and 2, the random ticket, the flipped one from θ_k under their masks
    masks = [stored["rounds/1/mask.npz"], stored["rounds/2/mask.npz"], stored[contract.RANDOM_MASK_ARTIFACT]]
    flipped = stored["ticket/flipped_init.npz"]
    assert len(phases.starts) == 5
    assert all(np.array_equal(phases.starts[0][n], theta0[n]) for n in LAYERS)
    for index, mask in enumerate(masks, start=1):
        assert all(np.array_equal(phases.starts[index][n], rewind[n] * mask[n]) for n in LAYERS), index
    assert all(np.array_equal(flipped[n], -rewind[n]) for n in LAYERS)
    assert all(np.array_equal(phases.starts[4][n], flipped[n] * masks[1][n]) for n in LAYERS)
    client = MlflowClient(store_uri)
    for key in ("random_test_acc", "flipped_test_acc"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [CONFIG.pruning.rounds]


def test_a_resumed_trial_rewinds_to_its_stored_weights(store_uri, tiny_data, watched, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        quiet(store_uri, hooks=[AfterRound(1, interrupt)])
    quiet(store_uri)
    uninterrupted = watched[0]  # the same trial, trained at once
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
    at_theta0 = replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=0))
    assert CONFIG.config_id() != at_theta0.config_id()
    beyond = replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=5))
    (outcome,) = quiet(store_uri, beyond)
    assert "rewind step 5 lies beyond round 0, which takes 4 steps" in outcome.error and not outcome.crashed
    with pytest.raises(UserError, match="rewind step must be >= 0"):
        replace(CONFIG, pruning=replace(CONFIG.pruning, rewind_step=-1))
