"""Trial runs named so that two configurations of one experiment tell apart in the UI (both were
`digits/trial-00`); runs created under the old names keep them and resume
(tests/test_store_compatibility.py)."""

from __future__ import annotations

from dataclasses import replace

from trial_store import trial_runs

from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.tracking.run_names import trial_run_name

TOY = ExperimentConfig(
    trials=1, training=TrainingHparams(epochs=1), pruning=PruningHparams(rounds=0), model="toy"
)


def test_a_trial_run_is_named_with_its_configuration(store_uri, tiny_data):
    run_experiment(TOY, "unused", store_uri)
    (run,) = trial_runs(store_uri)
    assert run.info.run_name == trial_run_name(TOY, 0)
    assert run.info.run_name.endswith(run.data.tags["lottery.config"])  # the name's digest is the tag


def test_two_configurations_of_one_experiment_have_different_names():
    configs = [c for c in (TOY, replace(TOY, training=TrainingHparams(epochs=2)))]
    names = [trial_run_name(config, 0) for config in configs]
    assert names == [f"digits/trial-00 · {config.config_id()}" for config in configs]
    assert names[0] != names[1]
    cifar10 = replace(TOY, dataset="cifar10")
    assert trial_run_name(cifar10, 7) == f"cifar10/trial-07 · {cifar10.config_id()}"
