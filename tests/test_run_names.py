"""Trial runs named so that two configurations of one experiment tell apart in the UI (both were
`digits/trial-00`); runs created under the old names keep them and resume
(tests/test_store_compatibility.py)."""

from __future__ import annotations

from dataclasses import replace

from trial_store import trial_runs

from lottery.execution.experiment import run_experiment
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models import configured
from lottery.tracking.run_names import trial_run_name

TOY = ExperimentConfig(
    trials=1, training=TrainingHparams(epochs=1), pruning=PruningHparams(rounds=0), model="toy"
)


def test_two_configurations_of_one_experiment_have_runs_of_different_names(store_uri, tiny_data):
    other = replace(TOY, training=TrainingHparams(epochs=2))
    for config in (TOY, other):
        run_experiment(config, "unused", store_uri)
    runs = trial_runs(store_uri)
    digests = [configured(c).config_id() for c in (TOY, other)]
    assert sorted(run.info.run_name for run in runs) == sorted(
        f"digits/trial-00 · {digest}" for digest in digests
    )
    for run in runs:  # the name's digest is the run's lottery.config tag
        assert run.info.run_name.endswith(run.data.tags["lottery.config"])


def test_the_name_is_the_dataset_the_trial_and_the_digest():
    config = configured(replace(TOY, dataset="cifar10"))
    assert trial_run_name(config, 7) == f"cifar10/trial-07 · {config.config_id()}"
