"""A configuration made from another by `dataclasses.replace` (how the tests and library users vary one): a
pruning rate left to the model follows the model, a rate the user gave stays, and the result is the
configuration the user would have built directly — the same params, digest and equality."""

from __future__ import annotations

from dataclasses import replace

import pytest

from experiments import train
from lottery.hparams import PROTOCOL, ExperimentConfig, PruningHparams
from lottery.options import option_name

CONV2 = ExperimentConfig(model="conv2")


def rates(config: ExperimentConfig) -> tuple[float | None, ...]:
    return config.pruning.conv_rate, config.pruning.dense_rate, config.pruning.output_rate


def test_replacing_the_model_takes_the_new_models_rates():
    conv6 = replace(CONV2, model="conv6")
    assert rates(conv6) == (0.15, 0.2, 0.1)
    assert conv6 == ExperimentConfig(model="conv6")
    assert conv6.params() == ExperimentConfig(model="conv6").params()
    assert conv6.config_id() == ExperimentConfig(model="conv6").config_id()
    assert rates(replace(conv6, model="conv2")) == (0.1, 0.2, 0.1)  # and back


def test_replacing_the_model_keeps_the_rates_the_user_gave():
    given = ExperimentConfig(model="conv6", pruning=PruningHparams(conv_rate=0.3, output_rate=0.15))
    assert rates(replace(given, model="conv2")) == (0.3, 0.2, 0.15)
    # A rate the user gave equal to the model's is still the user's: conv6 does not make it 0.15.
    explicit = ExperimentConfig(model="conv2", pruning=PruningHparams(conv_rate=0.1))
    assert rates(replace(explicit, model="conv6")) == (0.1, 0.2, 0.1)


def test_replacing_a_rate_in_the_pruning_keeps_the_others_the_models():
    """`replace(config.pruning, …)`: the rate set is the user's, the rates carried along stay the model's."""
    varied = replace(CONV2, pruning=replace(CONV2.pruning, dense_rate=0.3, rewind_step=2))
    assert rates(replace(varied, model="conv6")) == (0.15, 0.3, 0.1)
    assert replace(varied, model="conv6").pruning.rewind_step == 2


@pytest.mark.parametrize("changes", [{"seed": 3}, {"dataset": "svhn"}, {"trials": 2}])
def test_replacing_anything_else_keeps_the_rates(changes):
    for config in (ExperimentConfig(model="conv6"), ExperimentConfig(pruning=PruningHparams(conv_rate=0.3))):
        assert replace(config, **changes).pruning == config.pruning


def rebuilt(params: dict[str, str]) -> ExperimentConfig:
    """The configuration the command line builds from logged `params`, as a user resuming passes them."""
    argv = []
    for name, value in params.items():
        if name == "bf16":
            argv += ["--bf16"] if value == "True" else []
        elif name not in PROTOCOL:
            argv += [option_name(name), value]
    return train.parse(argv).config


@pytest.mark.parametrize("model", ["conv6", "conv4", "toy"])
def test_a_configuration_rebuilt_from_its_logged_params_equals_it(model):
    original = replace(
        ExperimentConfig(model="conv2", trials=3, pruning=PruningHparams(dense_rate=0.3)), model=model
    )
    again = rebuilt(original.params())
    assert (
        again == original == ExperimentConfig(model=model, trials=3, pruning=PruningHparams(dense_rate=0.3))
    )
    assert again.params() == original.params() and again.config_id() == original.config_id()
