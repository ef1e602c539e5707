"""Which configuration an analysis reads (`--config`), how it says so, and the names of its runs: what was
analysed, the pairs actually drawn, unique under the experiment."""

from __future__ import annotations

import pytest
from analysis_fixtures import error_line, log_trials
from mlflow import MlflowClient

from analysis.__main__ import main
from lottery.tracking import contract


def _analysis_runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("analysis").experiment_id
    query = f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'"
    return sorted(client.search_runs([experiment], query), key=lambda run: run.info.start_time)


@pytest.fixture
def two_configurations(store_uri) -> str:
    """digits trials of two configurations: 4 of `f6b95e71a93e`, 3 of `f8ed50795dec`."""
    log_trials(store_uri, "digits", 4, config="f6b95e71a93e")
    log_trials(store_uri, "digits", 3, config="f8ed50795dec", seed=1)
    return store_uri


def test_the_configuration_with_the_most_runs_by_default_and_how_to_pick_another(
    two_configurations, capsys, undrawn
):
    main(["--pairs", "3", "--ties", "first"])
    out = capsys.readouterr().out
    assert (
        "digits: trial runs of 2 configurations; using f6b95e71a93e (4 runs, the most; --config ID picks "
        "another), ignoring f8ed50795dec (3 runs)"
    ) in out
    (run,) = _analysis_runs(two_configurations)
    assert run.data.params["config.digits"] == "f6b95e71a93e"
    assert run.data.params["config_choice.digits"] == "most runs"
    assert run.info.run_name == "analysis · conv2 · digits · config f6b95e71 · 3 pairs · seed 0 · ties first"


def test_config_picks_a_configuration_by_a_prefix_of_its_id(two_configurations, capsys, undrawn):
    main(["--config", "f8ed", "--pairs", "3", "--ties", "first"])
    assert "using f8ed50795dec (3 runs, --config), ignoring f6b95e71a93e (4 runs)" in capsys.readouterr().out
    (run,) = _analysis_runs(two_configurations)
    assert run.data.params["config.digits"] == "f8ed50795dec"
    assert run.data.params["config_choice.digits"] == "--config"
    assert " · config f8ed5079 · " in run.info.run_name
    assert len(run.data.params["source_runs"].split(",")) == 3


@pytest.mark.parametrize(
    ("ask", "message"),
    [
        ("0b9d", "--config 0b9d: no trial runs of that configuration; the store has digits f6b95e71a93e, "),
        ("f", "--config f names several configurations of digits (f6b95e71a93e, f8ed50795dec); give more of"),
    ],
)
def test_a_config_that_names_none_or_several_is_a_one_line_error(store_uri, capsys, ask, message):
    log_trials(store_uri, "digits", 1, config="f6b95e71a93e")
    log_trials(store_uri, "digits", 1, config="f8ed50795dec", seed=1)
    assert message in error_line(capsys, ["--config", ask])


def test_two_analyses_of_one_store_get_names_of_their_own(store_uri, capsys, undrawn):
    log_trials(store_uri, "digits", 3)
    for _ in range(2):
        main(["--pairs", "2", "--ties", "first"])
    names = [run.info.run_name for run in _analysis_runs(store_uri)]
    base = "analysis · conv2 · digits · config cfg0 · 2 pairs · seed 0 · ties first"
    assert names == [base, f"{base} · 2"]
