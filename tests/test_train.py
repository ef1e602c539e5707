"""IMP end to end on a tiny dataset: the tracking contract, θ0, masks, the random ticket, bf16.

The toy model stands in for Conv-2: the contract and IMP are the same for every model, and Conv-2's own
layers are pinned by test_mask."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from mlflow import MlflowClient
from trial_store import artifact, artifact_paths, empty_store, trial_runs

from lottery.execution.experiment import run_experiment
from lottery.execution.trial import theta0_for
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models.toy import Network as Toy
from lottery.pruning import mask as masks
from lottery.tracking import contract

MODEL = "toy"
LAYER_NAMES = Toy.SPEC.layer_names

ROUNDS = 2


def config(**overrides) -> ExperimentConfig:
    base = dict(
        dataset="digits",
        trials=2,
        seed=3,
        training=TrainingHparams(epochs=1, batch_size=60),
        pruning=PruningHparams(rounds=ROUNDS),
        model=MODEL,
    )
    return ExperimentConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_digits, template_store):
    """Two trials of two rounds, trained once for the tests of this module."""
    uri = empty_store(template_store, tmp_path_factory.mktemp("store"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("lottery.data.registry.load_dataset", lambda *a, **k: tiny_digits)
        verdicts = run_experiment(config(), "unused", uri, say=lambda line: None, show_progress=False)
    return uri, verdicts


def test_one_finished_run_per_trial_with_the_contract_tags_and_params(trained):
    uri, verdicts = trained
    runs = trial_runs(uri)
    assert [r.info.run_name.partition(" · ")[0] for r in runs] == ["digits/trial-00", "digits/trial-01"]
    for index, run in enumerate(runs):
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        assert tags[contract.TAG_DATASET] == "digits" and tags[contract.TAG_TRIAL] == str(index)
        assert tags[contract.TAG_WINNING] == str(verdicts[index].winning).lower()
        assert {
            "epochs",
            "batch_size",
            "lr",
            "rounds",
            "conv_rate",
            "dense_rate",
            "output_rate",
            "seed",
            "winning_tolerance",
        } <= set(run.data.params)
        assert run.inputs.dataset_inputs[0].dataset.name == "digits"
    assert runs[0].data.tags[contract.TAG_INIT] != runs[1].data.tags[contract.TAG_INIT]


def test_metrics_per_round(trained):
    uri, _ = trained
    client = MlflowClient(uri)
    run = trial_runs(uri)[0]
    for key in ("test_acc", "test_loss", "sparsity", *(f"remaining.{n}" for n in LAYER_NAMES)):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == list(
            range(ROUNDS + 1)
        )
    sparsity = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "sparsity")}
    assert sparsity[0] == 0 and 0 < sparsity[1] < sparsity[2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "random_test_acc")] == [ROUNDS]


def test_artifacts_hold_theta0_and_nested_masks(trained, tmp_path):
    uri, _ = trained
    for index, run in enumerate(trial_runs(uri)):
        run_id = run.info.run_id
        assert artifact_paths(uri, run_id) == {
            "ticket/init.npz",
            "ticket/winning_mask.npz",
            "ticket/random_mask.npz",
            *(f"rounds/{r}/mask.npz" for r in range(1, ROUNDS + 1)),
        }
        init = artifact(uri, run_id, "ticket/init.npz", tmp_path / str(index))
        expected = theta0_for(3, index, MODEL)
        assert all(
            init[n].dtype == np.float32 and np.array_equal(init[n], expected[n].numpy()) for n in LAYER_NAMES
        )
        previous = {n: np.ones_like(init[n], dtype=bool) for n in LAYER_NAMES}
        for r in range(1, ROUNDS + 1):
            mask = artifact(uri, run_id, f"rounds/{r}/mask.npz", tmp_path / f"{index}-{r}")
            for n in LAYER_NAMES:
                assert mask[n].dtype == np.bool_ and mask[n].shape == init[n].shape
                assert not (mask[n] & ~previous[n]).any()
            previous = mask
        winning = artifact(uri, run_id, "ticket/winning_mask.npz", tmp_path / f"{index}-w")
        random = artifact(uri, run_id, "ticket/random_mask.npz", tmp_path / f"{index}-r")
        for n in LAYER_NAMES:
            assert np.array_equal(winning[n], previous[n])
            assert random[n].sum() == winning[n].sum() and not np.array_equal(random[n], winning[n])


def test_theta0_depends_on_seed_and_trial_only(trained):
    uri, _ = trained
    tag = trial_runs(uri)[1].data.tags[contract.TAG_INIT]
    from lottery.tracking.trial_record import init_id

    assert init_id(theta0_for(3, 1, MODEL)) == tag
    assert init_id(theta0_for(4, 1, MODEL)) != tag


def test_same_seed_gives_the_same_masks(trained, tmp_path, tiny_data, template_store):
    uri, _ = trained
    again = empty_store(template_store, tmp_path / "again")
    run_experiment(config(trials=1), "unused", again, say=lambda line: None, show_progress=False)
    first = artifact(uri, trial_runs(uri)[0].info.run_id, "ticket/winning_mask.npz", tmp_path / "a")
    second = artifact(again, trial_runs(again)[0].info.run_id, "ticket/winning_mask.npz", tmp_path / "b")
    assert all(np.array_equal(first[n], second[n]) for n in LAYER_NAMES)


def test_finished_trials_are_skipped(trained, tiny_data):
    uri, _ = trained
    lines = []
    verdicts = run_experiment(config(), "unused", uri, say=lines.append, show_progress=False)
    assert verdicts == [] and sum("skipped" in line for line in lines) == 2
    assert len(trial_runs(uri)) == 2


def imp_callback(rounds: int, rate: float, on_round_end=None, epochs: int = 1):
    """The IMP callback as a trial configures it for the toy model, without controls or a record."""
    from lottery.training.imp import IterativeMagnitudePruning

    return IterativeMagnitudePruning(
        rounds=rounds,
        epochs_per_round=epochs,
        rates=rate,
        layers=LAYER_NAMES,
        network="model",
        monitor="test_acc",
        loss_monitor="test_loss",
        controls=(),
        on_round_end=on_round_end,
    )


class RoundStarts(pl.Callback):
    """As each epoch (a round here) starts, after the IMP callback: the optimizer state size, the weights."""

    def __init__(self) -> None:
        self.states = []

    def on_train_epoch_start(self, trainer, module) -> None:
        weights = {n: module.model.layer(n).weight.detach().clone() for n in LAYER_NAMES}
        self.states.append((len(trainer.optimizers[0].state), weights))


def test_pruned_weights_stay_zero_and_rounds_restart_from_theta0(tiny_digits):
    from lottery.data.datamodule import DeviceDataModule
    from lottery.training.classifier import Classifier
    from lottery.training.fit import fit

    theta0 = theta0_for(0, 0, MODEL)
    seen = []

    def check_round(result):
        seen.append(result)
        for n in LAYER_NAMES:  # weights trained in this round respect its mask
            assert not module.model.layer(n).weight[~result.mask[n].to(module.device)].any()

    cfg = config(pruning=PruningHparams(rounds=1))
    module = Classifier(MODEL, theta0, lr=1e-3)
    starts = RoundStarts()
    imp = imp_callback(1, 0.5, check_round)
    fit(module, DeviceDataModule(tiny_digits, 60, (0,)), cfg, 2, [imp, starts], show_progress=False)
    assert [r.round for r in seen] == [0, 1]
    optimizer_state_after_round_0, weights_after_reset = starts.states[1]
    assert optimizer_state_after_round_0 == 0
    for n in LAYER_NAMES:
        assert torch.equal(weights_after_reset[n], theta0[n] * seen[0].next_mask[n])
        assert seen[0].next_mask[n].sum() == seen[0].mask[n].numel() - round(0.5 * seen[0].mask[n].numel())
    final = {n: module.model.layer(n).weight.detach() for n in LAYER_NAMES}
    for n in LAYER_NAMES:
        assert not final[n][~seen[1].mask[n]].any()
        assert final[n][seen[1].mask[n]].ne(theta0[n][seen[1].mask[n]]).any()
    assert torch.equal(imp.tickets.mask(1)["dense1"], seen[1].mask["dense1"])


def test_bf16_autocast_computes_in_bf16_and_keeps_pruned_weights_exactly_zero(tiny_digits):
    from lottery.data.datamodule import DeviceDataModule
    from lottery.training.classifier import Classifier
    from lottery.training.fit import fit

    theta0 = theta0_for(0, 1, MODEL)
    mask = masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))
    module = Classifier(MODEL, theta0, lr=1e-3)
    imp = imp_callback(0, 0.5, epochs=2)
    imp.resume_at(0, mask, theta0, theta0)  # round 0 of a half-pruned ticket
    computed = []  # (training?, dtype) of every prunable layer's output
    for name in LAYER_NAMES:
        module.model.layer(name).register_forward_hook(
            lambda layer, inputs, output: computed.append((layer.training, output.dtype))
        )
    cfg = config(training=TrainingHparams(epochs=2, bf16=True))
    metrics = fit(module, DeviceDataModule(tiny_digits, 40, (0,)), cfg, 2, [imp], show_progress=False)

    # 2 epochs of 3 steps, then the evaluation (2 batches): every layer computed in bf16 under autocast
    assert {dtype for _, dtype in computed} == {torch.bfloat16}
    assert sum(training for training, _ in computed) == 2 * 3 * len(LAYER_NAMES)
    assert 0 <= metrics.acc <= 1 and (metrics.acc * 60).is_integer()  # an exact fraction of 60 images
    assert imp.tickets.rounds[0].acc == metrics.acc  # the callback reads the exact fraction
    for n in LAYER_NAMES:
        weight = module.model.layer(n).weight.detach()
        assert weight.dtype == torch.float32  # the weights Adam updates stay float32
        assert weight[mask[n]].ne(theta0[n][mask[n]]).any()  # the kept weights trained
        assert not weight[~mask[n]].any()  # the pruned stayed exactly zero
