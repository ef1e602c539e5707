"""Tickets from the tracking store, the CLI's errors, and what an analysis logs back (synthetic trials)."""

from __future__ import annotations

import errno
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import SMALL_SHAPES, artifact_file, error_line, log_trials
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

import analysis.__main__ as cli
from analysis.__main__ import main
from analysis.statistics.stats import NUMERIC_STATISTICS, OVERALL_ONLY
from analysis.tickets.loading import load_tickets
from analysis.tickets.selection import select_runs
from analysis.tickets.store import finished_trial_runs
from lottery.errors import UserError, first_line
from lottery.models.conv2 import Network as Conv2
from lottery.tracking import contract, store
from lottery.tracking.arrays import load_arrays, save_arrays

LAYER_NAMES = Conv2.SPEC.layer_names

METRICS = ("nnstd", "nnstd_pm")
STATS = tuple(stat for stat in NUMERIC_STATISTICS if stat not in OVERALL_ONLY)  # logged per layer too


def test_finds_finished_trial_runs_across_experiments(store_uri):
    log_trials(store_uri, "cifar10", 2)
    log_trials(store_uri, "digits", 3)
    log_trials(store_uri, "digits", 1, first_trial=3, status="RUNNING")
    client = store.connect(store_uri)
    other = client.create_run(store.experiment_id(client, "elsewhere"), tags={contract.TAG_ROLE: "analysis"})
    client.set_terminated(other.info.run_id)
    runs = finished_trial_runs(client)
    assert sorted((r.dataset, r.trial) for r in runs) == [("cifar10", 0), ("cifar10", 1)] + [
        ("digits", k) for k in range(3)
    ]
    datasets, selected, notes = select_runs(runs, None)
    assert datasets == ["digits", "cifar10"] and notes == []
    assert [(r.dataset, r.trial) for r in selected] == [("digits", 0), ("digits", 1), ("digits", 2)] + [
        ("cifar10", 0),
        ("cifar10", 1),
    ]
    assert select_runs(runs, ["cifar10"])[0] == ["cifar10"]


def test_tickets_are_the_signs_of_theta0_on_each_mask(store_uri, tmp_path):
    (winning_id,) = log_trials(store_uri, "digits", 1)
    (losing_id,) = log_trials(store_uri, "digits", 1, first_trial=1, winning=False)
    client = store.connect(store_uri)
    _, runs, _ = select_runs(finished_trial_runs(client), None)
    tickets = load_tickets(client, runs)[0]
    assert [(t.run_id, t.kind) for t in tickets] == [
        (winning_id, "winning"),
        (winning_id, "random"),
        (losing_id, "random"),
    ]
    theta0 = load_arrays(artifact_file(store_uri, winning_id, "ticket/init.npz"), LAYER_NAMES)
    for ticket in tickets[:2]:
        mask = load_arrays(
            artifact_file(store_uri, winning_id, f"ticket/{ticket.kind}_mask.npz"), LAYER_NAMES
        )
        for name, layer in zip(LAYER_NAMES, ticket.layers, strict=True):
            assert layer.dtype == np.int8 and layer.shape == SMALL_SHAPES[name]
            np.testing.assert_array_equal(layer, np.sign(theta0[name]) * mask[name])
    assert tickets[0].init == tickets[1].init != tickets[2].init


def test_the_most_common_configuration_and_the_newest_run_per_trial(store_uri):
    log_trials(store_uri, "digits", 3, config="A")
    log_trials(store_uri, "digits", 1, config="B")
    newest = log_trials(store_uri, "digits", 1, config="A")
    _, runs, notes = select_runs(finished_trial_runs(store.connect(store_uri)), None)
    assert [r.config for r in runs] == ["A"] * 3 and runs[0].run_id == newest[0]
    assert "using A (4 runs, the most; --config ID picks another), ignoring B (1 runs)" in notes[0]
    assert "1 older duplicate run" in notes[1]


def test_empty_store(store_uri, capsys):
    assert "holds no finished trial runs" in error_line(capsys, [])


def test_dataset_without_runs(store_uri, capsys):
    log_trials(store_uri, "digits", 2)
    line = error_line(capsys, ["--datasets", "svhn"])
    assert "svhn" in line and "the store has digits" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pairs", "0"], "--pairs"),
        (["--pairs", "10001"], "--pairs must lie in 1..10000, got 10001"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--seed", "1.5"], "--seed"),
        (["-K", "0"], "-K must be >= 1, got 0"),
        (["--alpha", "nan"], "--alpha must lie in (0, 1), got nan"),
        (["--alpha", "1.5"], "--alpha"),
        (["--ties", "last"], "argument --ties: invalid choice: 'last' (choose from 'average', 'first')"),
        (["--tie-draws", "0"], "--tie-draws must lie in 1..1000, got 0"),
        (["--positive-weight", "1.5"], "--positive-weight must lie in 0..1, got 1.5"),
        (["--positive-weight", "nan"], "--positive-weight"),
        (["-K", "x"], "-K"),
        (["--datasets", "mnist"], "unknown dataset 'mnist'"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_options(store_uri, capsys, argv, message):
    assert message in error_line(capsys, argv)


def test_a_mistyped_sqlite_path_is_refused_not_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlrun/mlflow.db")
    line = error_line(capsys, [])
    assert (
        f"no tracking store at sqlite:///mlrun/mlflow.db ({tmp_path}/mlrun/mlflow.db does not exist)" in line
    )
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert "cannot reach the MLflow tracking store http://127.0.0.1:9" in error_line(capsys, [])


def test_corrupt_artifact_names_the_run(store_uri, capsys):
    run_id = log_trials(store_uri, "digits", 3)[1]
    artifact_file(store_uri, run_id, "ticket/init.npz").write_bytes(b"not an npz file")
    line = error_line(capsys, [])
    assert f"run digits/trial-01 ({run_id})" in line and "corrupt" in line


def test_mismatched_mask_names_the_run(store_uri, capsys):
    run_id = log_trials(store_uri, "digits", 3)[2]
    save_arrays(
        artifact_file(store_uri, run_id, "ticket/random_mask.npz"),
        {name: np.ones((2, 2), dtype=bool) for name in LAYER_NAMES},
    )
    line = error_line(capsys, [])
    assert f"run digits/trial-02 ({run_id})" in line and "does not match" in line


def test_missing_artifact_names_the_run(store_uri, capsys):
    run_id = log_trials(store_uri, "digits", 3)[0]
    artifact_file(store_uri, run_id, "ticket/winning_mask.npz").unlink()
    line = error_line(capsys, [])
    assert f"run digits/trial-00 ({run_id})" in line and "ticket/winning_mask.npz is missing" in line


def test_load_tickets_refuses_networks_of_other_shapes(store_uri):
    log_trials(store_uri, "digits", 1)
    log_trials(
        store_uri,
        "cifar10",
        1,
        shapes={**SMALL_SHAPES, "dense2": (12, 12), "output": (10, 12), "dense1": (12, 64)},
    )
    client = store.connect(store_uri)
    _, runs, _ = select_runs(finished_trial_runs(client), None)
    with pytest.raises(UserError, match="cifar10/trial-00 .* differ from the other runs"):
        load_tickets(client, runs)[0]


def test_without_a_random_baseline_the_analysis_says_so_in_one_line_and_logs_nothing(store_uri, capsys):
    log_trials(store_uri, "digits", 2)  # two trials: one pair of random tickets
    line = error_line(capsys, [])
    assert line == (
        "error: no Table 1 for the conv2 tickets of digits: its baseline `random` has 1 eligible pair(s) of "
        "random tickets, 2 needed, and random tickets of 3 trials form it — train more trials (make train … "
        "TRIALS=3), then re-run the analysis"
    )
    assert MlflowClient(store_uri).get_experiment_by_name("analysis") is None


def test_a_skipped_condition_says_how_many_trials_form_it(store_uri, capsys, undrawn):
    log_trials(store_uri, "digits", 3)
    log_trials(store_uri, "svhn", 1)
    main(["--pairs", "3", "--ties", "first"])
    out = capsys.readouterr().out
    assert (
        "condition WTs_svhn skipped: 0 eligible pair(s) of tickets not sharing θ0, 2 needed — winning "
        "tickets of 3 trials of svhn form it; train more trials"
    ) in out
    assert (
        "condition between_same_init_digits_svhn skipped: 1 eligible pair(s) of tickets sharing θ0, 2 " in out
    )
    assert "— 2 trials winning in both digits and svhn form it; train more trials" in out


def test_cli_logs_the_analysis_back(store_uri, capsys, tmp_path, undrawn):
    sources = log_trials(store_uri, "digits", 4) + log_trials(store_uri, "svhn", 1)
    main(["--pairs", "4", "--seed", "7", "-K", "3", "--tie-draws", "3", "--positive-weight", "0.25"])
    out = capsys.readouterr().out
    assert "condition WTs_svhn skipped" in out
    assert "Table 1 — NNSTD against random" in out and "Table 1 — NNSTD± against random" in out

    client = MlflowClient(store_uri)
    experiment = client.get_experiment_by_name("analysis")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags[contract.TAG_ROLE] == contract.ROLE_ANALYSIS]
    assert parent.info.status == "FINISHED"
    run_route = f"#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}"
    route = f"{run_route}?workflowType=machine_learning"
    assert f"browse it (after `MLFLOW_TRACKING_URI={store_uri} make ui`): http://" in out and route in out
    settings = ("model", "datasets", "pairs", "seed", "alpha", "K", "ties", "tie_draws", "positive_weight")
    assert {k: parent.data.params[k] for k in settings} == {
        "model": "conv2",
        "datasets": "digits,svhn",
        "pairs": "4",
        "seed": "7",
        "alpha": "0.01",
        "K": "3",
        "ties": "average",
        "tie_draws": "3",
        "positive_weight": "0.25",
    }
    assert set(parent.data.params["source_runs"].split(",")) == set(sources)
    assert {k: v for k, v in parent.data.params.items() if k.startswith("config")} == {
        "config.digits": "cfg0",
        "config.svhn": "cfg0",
        "config_choice.digits": "most runs",
        "config_choice.svhn": "most runs",
    }
    assert parent.info.run_name == (
        "analysis · conv2 · digits+svhn · config cfg0+cfg0 · 3–4 pairs · seed 7 · ties average · positive "
        "weight 0.25"
    )  # runs that predate the `model` param trained Conv-2; mixed_svhn and between have 3 pairs only
    description = parent.data.tags["mlflow.note.content"]
    assert (
        "### Table 1 — NNSTD against random" in description
        and "### Table 1 — NNSTD± against random" in description
    )
    assert "| &nbsp;`WTs_digits`&nbsp; | &nbsp;4&nbsp; |" in description and "3 draws each way" in description
    assert "p pairs (paper)" in description and "p tickets (ours)" in description
    assert "`tables/paper_comparison.json`" in description  # logged: mixed_svhn is the paper's
    headline = {"nnstd_pm.cohen_d.WTs_digits", "nnstd.diff_mean.mixed_svhn", "nnstd.p_tickets.WTs_digits"}
    assert headline <= set(parent.data.metrics)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    names = [r.info.run_name for r in children]
    assert len(names) == len(set(names)), "children of one analysis share a name"

    def of_role(role: str) -> dict:
        prefix = f"{role} · "
        assert all(
            r.info.run_name.startswith(prefix) for r in children if r.data.tags[contract.TAG_ROLE] == role
        )
        return {
            r.info.run_name.removeprefix(prefix): r
            for r in children
            if r.data.tags[contract.TAG_ROLE] == role
        }

    conditions = of_role(contract.ROLE_CONDITION)
    assert {n: r.data.tags[contract.TAG_CATEGORY] for n, r in conditions.items()} == {
        "random": "random",
        "WTs_digits": "WTs",
        "mixed_digits": "mixed",
        "mixed_svhn": "mixed",
        "between_digits_svhn": "between",
    }
    scopes = [""] + [f"per_layer.{layer}." for layer in LAYER_NAMES]
    wts = conditions["WTs_digits"].data
    assert set(wts.metrics) == {f"{s}{m}.{stat}" for m in METRICS for s in scopes for stat in STATS} | {
        f"{m}.tie_spread" for m in METRICS
    } | {"pairs.eligible", "pairs.used"}
    assert sorted(wts.metrics)[: len(METRICS) * (len(STATS) + 1)] == sorted(
        f"{m}.{stat}" for m in METRICS for stat in (*STATS, "tie_spread")
    ), "Table 1's metrics sort first, together, as Compare lists them"
    assert "pairs of two winning tickets of digits" in wts.tags["mlflow.note.content"]
    assert wts.tags["nnstd.beyond_ties"] in ("true", "false")
    assert (wts.metrics["pairs.eligible"], wts.metrics["pairs.used"]) == (6, 4)
    assert wts.tags["nnstd_pm.effect"] in ("negligible", "small", "medium", "large", "very large", "huge")
    assert wts.tags["per_layer.dense1.nnstd.significant"] in ("true", "false")
    assert set(conditions["random"].data.metrics) == {
        f"{s}{m}.{stat}" for m in METRICS for s in scopes for stat in ("mean", "std", "ticket_share")
    } | {f"{m}.tie_spread" for m in METRICS} | {"pairs.eligible", "pairs.used"}
    patterns = of_role(contract.ROLE_PATTERNS)
    assert set(patterns) == {"random", "WTs_digits", "WTs_svhn"}
    assert patterns["random"].data.params["tickets"] == "3"
    assert "first conv layer of 3 random tickets" in patterns["random"].data.tags["mlflow.note.content"]
    assert {"sign_ratio", "neighbour_pct_pos", "kernels_with_9", "filter_count_std"} <= set(
        patterns["WTs_digits"].data.metrics
    )
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    for name in (
        "table_1",
        "table_A1_nnstd_pm_layers",
        "table_A2_nnstd_layers",
        "table_A3_patterns",
        "pair_distances",
        "top_patterns",
    ):
        assert {f"tables/{name}.json", f"tables/{name}.csv"} <= tables
    comparison = pd.read_csv(
        client.download_artifacts(parent.info.run_id, "tables/paper_comparison.csv", str(tmp_path))
    )
    assert set(comparison["condition"]) == {"mixed_svhn"}  # the one condition here that the paper published
    assert len(comparison) == 2 * (1 + len(LAYER_NAMES))  # both metrics, overall and per layer
    overall = comparison[(comparison["layer"] == "all") & (comparison["metric"] == "NNSTD±")].iloc[0]
    assert (overall["paper_diff_mean"], overall["paper_cohen_d"], overall["paper_effect"]) == (
        0.0035,
        1.72,
        "very large",
    )
    table_1 = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "tables/table_1.json", str(tmp_path))).read_text()
    )
    assert all(
        "." not in column for column in table_1["columns"]
    )  # MLflow's table view reads a dot as a path
    assert table_1["columns"][:3] == ["condition", "metric", "pairs"]
    assert [row[:2] for row in table_1["data"][:2]] == [["random", "NNSTD"], ["random", "NNSTD±"]]
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert figures == {
        "figures/fig1_distances.png",
        "figures/figA2_nnstd_layers.png",
        "figures/figA4_nnstd_pm_layers.png",
    }
    assert len(client.list_artifacts(patterns["WTs_svhn"].info.run_id, "figures")) == 4
    tickets = client.download_artifacts(patterns["random"].info.run_id, "tickets.txt", str(tmp_path))
    assert len(Path(tickets).read_text().splitlines()) == 3


def analysed(monkeypatch, capsys, argv: list[str]) -> tuple[object, str]:
    """(the Analysis the CLI would log, its output), without logging it."""
    logged = []
    monkeypatch.setattr(
        cli, "log_analysis", lambda client, analysis, runs, notes: logged.append(analysis) or "-"
    )
    main(argv)
    return logged[0], capsys.readouterr().out


@pytest.mark.parametrize(
    ("names", "datasets", "notes"),
    [
        (["digits", "digits"], ["digits"], ["digits twice (digits, digits)"]),
        (["Digits", "digits"], ["digits"], ["digits twice (Digits, digits)"]),
        (["cinic", "cinic10"], ["cinic10"], ["cinic10 twice (cinic, cinic10)"]),
        (
            ["digits", "cinic", "DIGITS", "cinic10", "digits"],
            ["digits", "cinic10"],
            ["digits 3 times (digits, DIGITS, digits)", "cinic10 twice (cinic, cinic10)"],
        ),
    ],
)
def test_repeated_datasets_are_analysed_once(store_uri, monkeypatch, capsys, names, datasets, notes):
    log_trials(store_uri, "digits", 3)
    log_trials(store_uri, "cinic10", 3)
    first = ["--ties", "first"]  # quicker, and what a dataset named twice does is the same under either rule
    once, _ = analysed(monkeypatch, capsys, ["--datasets", *datasets, *first])
    repeated, out = analysed(monkeypatch, capsys, ["--datasets", *names, *first])
    assert [line for line in out.splitlines() if line.startswith("note:")] == [
        f"note: --datasets names {note}; analysed once" for note in notes
    ]
    assert repeated.settings == once.settings and repeated.settings.datasets == tuple(datasets)
    assert [t.label for t in repeated.tickets] == [t.label for t in once.tickets]
    assert [(c.name, c.eligible, c.pairs.tolist()) for c in repeated.conditions] == [
        (c.name, c.eligible, c.pairs.tolist()) for c in once.conditions
    ]
    pd.testing.assert_frame_equal(repeated.stats, once.stats)
    assert repeated.patterns.keys() == once.patterns.keys()


def test_selecting_a_dataset_twice_is_a_programming_error(store_uri):
    log_trials(store_uri, "digits", 2)
    with pytest.raises(ValueError, match="repeat digits"):
        select_runs(finished_trial_runs(store.connect(store_uri)), ["digits", "svhn", "digits"])


def always(*args) -> bool:
    return True


def finishing(run_id, status=None) -> bool:
    return status == "FINISHED"


def fail_on_call(monkeypatch, method: str, call: int, error: Exception, when=always) -> None:
    """Make `MlflowClient.<method>` raise `error` on the `call`-th (from 0) of the calls `when` selects."""
    original, count = getattr(MlflowClient, method), itertools.count()

    def failing(self, *args, **kwargs):
        if when(*args) and next(count) == call:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, failing)


@pytest.mark.parametrize(
    ("method", "call", "when", "error", "fix"),
    [
        # the files of the first pattern group: three condition runs and one pattern run are open
        ("log_artifacts", 0, always, OSError(errno.ENOSPC, "No space left on device"), "have free space"),
        # the parent's tables, listed once they are uploaded: every child run is open
        ("set_tag", 0, always, MlflowException("database is locked", TEMPORARILY_UNAVAILABLE), "store"),
        # the store fails with two child runs FINISHED already
        ("set_terminated", 2, finishing, MlflowException("Connection refused"), "store"),
    ],
)
def test_logging_fails_in_one_line_and_every_run_ends_failed(
    store_uri, monkeypatch, capsys, undrawn, method, call, when, error, fix
):
    log_trials(store_uri, "digits", 3)
    fail_on_call(monkeypatch, method, call, error, when)
    line = error_line(capsys, [])
    client = MlflowClient(store_uri)
    runs = client.search_runs([client.get_experiment_by_name("analysis").experiment_id])
    (parent,) = [r for r in runs if r.data.tags[contract.TAG_ROLE] == contract.ROLE_ANALYSIS]
    assert line.startswith(f"error: logging the analysis failed ({first_line(error)}); ")
    assert f"run {parent.info.run_id} and its children are marked FAILED — check that " in line
    assert fix in line and line.endswith(", then re-run `make analyze`")
    assert len(runs) >= 5 and {r.info.status for r in runs} == {"FAILED"}


def test_a_bug_while_logging_stays_visible_and_every_run_ends_failed(store_uri, monkeypatch, undrawn):
    log_trials(store_uri, "digits", 3)
    fail_on_call(monkeypatch, "log_artifacts", 0, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        main([])
    client = MlflowClient(store_uri)
    runs = client.search_runs([client.get_experiment_by_name("analysis").experiment_id])
    assert len(runs) == 5 and {r.info.status for r in runs} == {"FAILED"}
