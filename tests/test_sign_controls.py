"""The controls that keep the winning mask and change its initial weights: re-initialised (Frankle & Carbin),
signs kept with magnitudes redrawn (Zhou et al.), signs flipped; each with its own seeded draws. One trial
trains them all and logs each one's initial weights and metrics."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from round_hooks import Watch
from trial_store import artifact, trial_runs

from lottery.execution.experiment import run_experiment
from lottery.execution.trial import theta0_for
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.pruning import controls
from lottery.pruning import mask as masks
from lottery.tracking import contract

SEED = 2
WEIGHT_CONTROLS = ("reinit", "signs", "flipped")
CONFIG = ExperimentConfig(
    dataset="digits",
    trials=1,
    seed=SEED,
    training=TrainingHparams(epochs=1),
    pruning=PruningHparams(rounds=1),
    model="toy",
)


def ticket(trial: int = 0, model: str = "toy"):
    theta0 = theta0_for(SEED, trial, model)
    final = masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))
    return theta0, final


def start(name: str, trial: int = 0, seed: int = SEED, model: str = "toy"):
    theta0, final = ticket(trial, model)
    return theta0, final, controls.control(name).start(final, theta0, seed, trial)


@pytest.mark.parametrize("name", WEIGHT_CONTROLS)
def test_weight_controls_keep_the_winning_mask(name):
    _, final, begun = start(name)
    assert all(torch.equal(begun.mask[n], final[n]) for n in final)
    assert controls.control(name).artifact == f"ticket/{name}_init.npz"


def test_signs_kept_exactly_magnitudes_redrawn():
    theta0, _, begun = start("signs")
    for n, weight in theta0.items():
        assert torch.equal(begun.weights[n].sign(), weight.sign()), n
        assert not torch.equal(begun.weights[n].abs(), weight.abs()), n
        # not a scaled copy: the magnitudes' ranks change
        assert torch.corrcoef(torch.stack([begun.weights[n].abs().ravel(), weight.abs().ravel()]))[0, 1] < 0.1


def test_flipped_is_minus_the_start_weights_exactly():
    theta0, _, begun = start("flipped")
    assert all(torch.equal(begun.weights[n], -theta0[n]) for n in theta0)


def test_reinit_draws_fresh_weights_from_theta0s_distribution():
    theta0, _, begun = start("reinit")
    for n, weight in theta0.items():
        fresh = begun.weights[n]
        assert fresh.shape == weight.shape and fresh.dtype == torch.float32
        assert not torch.equal(fresh.sign(), weight.sign())
        # Glorot-normal as θ0: N(0, 2 / (fan_in + fan_out)), within 4 standard errors of its sample statistics
        receptive = weight[0, 0].numel() if weight.dim() == 4 else 1
        sigma = (2 / ((weight.shape[0] + weight.shape[1]) * receptive)) ** 0.5
        count = weight.numel()
        assert abs(fresh.std().item() / sigma - 1) < 4 / (2 * count) ** 0.5, n
        assert abs(fresh.mean().item()) < 4 * sigma / count**0.5, n


@pytest.mark.parametrize("name", ("reinit", "signs"))
def test_draws_are_seeded_by_seed_trial_and_control(name):
    _, _, begun = start(name)
    _, _, again = start(name)
    assert all(torch.equal(begun.weights[n], again.weights[n]) for n in begun.weights)
    _, _, other_seed = start(name, seed=SEED + 1)
    _, _, other_trial = start(name, trial=1)
    for other in (other_seed, other_trial):
        assert not torch.equal(begun.weights["dense1"].abs(), other.weights["dense1"].abs())
    _, _, reinit = start("reinit")
    _, _, signs = start("signs")
    assert not torch.equal(reinit.weights["dense1"].abs(), signs.weights["dense1"].abs())


def test_a_trial_trains_every_control_and_logs_its_initial_weights(store_uri, tiny_data, tmp_path):
    config = replace(CONFIG, controls="flipped,signs,reinit,random")
    lines = []
    (outcome,) = run_experiment(config, "unused", store_uri, say=lines.append, show_progress=False)
    assert outcome.error is None
    (run,) = trial_runs(store_uri)
    run_id, client = run.info.run_id, MlflowClient(store_uri)
    theta0 = artifact(store_uri, run_id, contract.INIT_ARTIFACT, tmp_path / "init")
    final = masks.from_numpy(artifact(store_uri, run_id, contract.WINNING_MASK_ARTIFACT, tmp_path / "mask"))
    for name in WEIGHT_CONTROLS:
        logged = artifact(store_uri, run_id, f"ticket/{name}_init.npz", tmp_path / name)
        expected = controls.control(name).start(final, torch_of(theta0), SEED, 0).weights
        assert all(np.array_equal(logged[n], expected[n].numpy()) for n in theta0), name
    for name in ("random", *WEIGHT_CONTROLS):
        for key in (f"{name}_test_acc", f"{name}_test_loss"):
            assert [m.step for m in client.get_metric_history(run_id, key)] == [1], key
    summary = lines[-1]
    assert all(
        title in summary
        for title in ("random ticket", "re-initialised ticket", "signs-kept ticket", "signs-flipped ticket")
    )


def torch_of(arrays):
    return {n: torch.from_numpy(a) for n, a in arrays.items()}


def test_a_rerun_with_more_controls_adds_them_to_the_finished_runs(store_uri, tiny_data):
    run_experiment(CONFIG, "unused", store_uri, say=lambda line: None, show_progress=False)
    (before,) = trial_runs(store_uri)
    assert "signs_test_acc" not in before.data.metrics
    watch = Watch()
    lines = []
    more = replace(CONFIG, controls="random,signs")
    (outcome,) = run_experiment(
        more, "unused", store_uri, say=lines.append, show_progress=False, hooks=[watch]
    )
    assert outcome.error is None and watch.controls == ["signs"]
    assert any("adding the signs control(s)" in line for line in lines)
    (after,) = trial_runs(store_uri)
    assert after.info.run_id == before.info.run_id and after.info.status == "FINISHED"
    client = MlflowClient(store_uri)
    for key in ("test_acc", "random_test_acc", "signs_test_acc"):
        steps = [m.step for m in client.get_metric_history(after.info.run_id, key)]
        assert len(steps) == len(set(steps)), key
    lines = []
    run_experiment(more, "unused", store_uri, say=lines.append, show_progress=False, hooks=[watch])
    assert watch.controls == ["signs"] and any("skipped" in line for line in lines)
