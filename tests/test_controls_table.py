"""The controls against the ticket: final test accuracies read at step R, paired by trial: the paired t-test,
its interval and d_z as computed by hand, and the table, metrics and description an analysis logs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from analysis_fixtures import log_trials
from mlflow import MlflowClient

import analysis.statistics.controls as controls
from analysis.__main__ import main
from analysis.statistics.controls import COLUMNS, control_metrics, controls_table
from analysis.tickets.store import TrialRun, finished_trial_runs
from lottery.tracking import contract, store

TICKET = [0.61, 0.64, 0.66, 0.60]  # final tickets' test_acc at step R, one per trial
RANDOM = [0.52, 0.55, 0.50, 0.57]  # random_test_acc at step R


def _run(dataset: str, trial: int, **accuracies: float) -> TrialRun:
    return TrialRun(
        run_id=f"{dataset}-{trial}",
        name=f"{dataset}/trial-{trial:02d}",
        artifact_uri=f"file:///nowhere/{dataset}-{trial}/artifacts",
        model="conv2",
        dataset=dataset,
        trial=trial,
        init=f"init-{trial}",
        config="cfg",
        winning=trial % 2 == 0,
        rewind_step=0,
        start_time=trial,
        accuracies=accuracies,
    )


def _by_hand(control: list[float], ticket: list[float]) -> dict[str, float]:
    """The statistics written out, trial by trial: δ = control − ticket, its mean, t = δ̄ / (s_δ / √n) on
    n − 1 degrees of freedom, the interval δ̄ ∓ t(0.975; n − 1) s_δ / √n, d_z = δ̄ / s_δ."""
    y, x = np.array(control), np.array(ticket)
    delta = y - x
    n, mean, sd = len(delta), delta.mean(), delta.std(ddof=1)
    half = scipy.stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return {
        "ticket_acc_mean": x.mean(),
        "control_acc_mean": y.mean(),
        "diff_mean": mean,
        "diff_ci_low": mean - half,
        "diff_ci_high": mean + half,
        "p_value": 2 * scipy.stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1),
        "d_z": mean / sd,
    }


def test_the_registered_controls_are_read_by_their_metric():
    assert control_metrics()["random"] == "random_test_acc"
    assert all(metric == f"{label}_test_acc" for label, metric in control_metrics().items())


def test_the_table_equals_a_hand_computation(monkeypatch):
    monkeypatch.setattr(
        controls, "control_metrics", lambda: {"random": "random_test_acc", "signs": "signs_test_acc"}
    )
    signs = [0.62, 0.63, 0.65, 0.61]
    runs = [
        _run("digits", k, test_acc=t, random_test_acc=r, signs_test_acc=s)
        for k, (t, r, s) in enumerate(zip(TICKET, RANDOM, signs, strict=True))
    ]
    runs += [_run("svhn", 0, test_acc=0.9, random_test_acc=0.8), _run("svhn", 1, test_acc=0.91)]
    table = controls_table(runs, ["digits", "svhn"])
    assert list(table.columns) == list(COLUMNS)
    assert list(zip(table["dataset"], table["control"], strict=True)) == [
        ("digits", "random"),
        ("digits", "signs"),
        ("svhn", "random"),
    ]
    for row, control in zip(table.iloc[:2].to_dict("records"), (RANDOM, signs), strict=True):
        assert row["trials"] == 4
        for stat, value in _by_hand(control, TICKET).items():
            assert row[stat] == pytest.approx(value, rel=1e-12), stat
    svhn = table.iloc[2]  # one trial with both accuracies: statistics undefined, no crash
    assert (svhn["trials"], svhn["control_acc_mean"], svhn["ticket_acc_mean"]) == (1, 0.8, 0.9)
    assert all(math.isnan(svhn[stat]) for stat in ("diff_mean", "p_value", "d_z", "diff_ci_low"))


def test_the_pairing_is_by_trial():
    """A control that trails its own trial's ticket by the same 0.01 every time: Welch between the two groups
    sees nothing (the trials differ by far more), the paired test sees it exactly."""
    ticket = np.array([0.60, 0.70, 0.80, 0.65, 0.75])
    control = ticket - 0.01 + np.array([0.001, -0.001, 0.0005, -0.0005, 0.0])
    runs = [
        _run("digits", k, test_acc=t, random_test_acc=r)
        for k, (t, r) in enumerate(zip(ticket, control, strict=True))
    ]
    row = controls_table(runs, ["digits"]).iloc[0]
    assert row["diff_mean"] == pytest.approx(-0.01)
    assert row["p_value"] < 1e-5 < 0.5 < scipy.stats.ttest_ind(control, ticket, equal_var=False).pvalue
    assert row["d_z"] < -10
    assert row["diff_ci_low"] < -0.01 < row["diff_ci_high"] < 0


def test_no_runs_no_rows():
    assert controls_table([], ["digits"]).empty


def test_accuracies_are_the_final_round_s(store_uri):
    log_trials(
        store_uri,
        "digits",
        4,
        accuracies={"test_acc": TICKET, "random_test_acc": RANDOM},
        rounds=3,
    )
    runs = sorted(finished_trial_runs(store.connect(store_uri)), key=lambda run: run.trial)
    # test_acc was logged at step 0 (0.999, the dense network) and at step R: the run holds step R's
    assert [run.accuracies for run in runs] == [
        {"test_acc": t, "random_test_acc": r} for t, r in zip(TICKET, RANDOM, strict=True)
    ]


def test_an_analysis_logs_and_prints_the_controls(store_uri, capsys, tmp_path, undrawn):
    log_trials(store_uri, "digits", 4, accuracies={"test_acc": TICKET, "random_test_acc": RANDOM})
    main(["--pairs", "3", "--ties", "first"])
    out = capsys.readouterr().out
    assert out.index("Table 1 — NNSTD± against random") < out.index("Controls — final test accuracy")
    expected = _by_hand(RANDOM, TICKET)
    client = MlflowClient(store_uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("analysis").experiment_id],
        filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
    )
    metrics = parent.data.metrics
    assert metrics["controls.digits.ticket.acc_mean"] == pytest.approx(expected["ticket_acc_mean"])
    assert metrics["controls.digits.random.acc_mean"] == pytest.approx(expected["control_acc_mean"])
    assert metrics["controls.digits.random.d_z"] == pytest.approx(expected["d_z"])
    assert metrics["controls.digits.random.diff_mean"] == pytest.approx(expected["diff_mean"])
    assert metrics["controls.digits.random.p_value"] == pytest.approx(expected["p_value"])
    paths = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert {"tables/controls.json", "tables/controls.csv"} <= paths
    logged = pd.read_csv(client.download_artifacts(parent.info.run_id, "tables/controls.csv", str(tmp_path)))
    (row,) = logged.to_dict("records")
    assert (row["dataset"], row["control"], row["trials"]) == ("digits", "random", 4)
    assert row["d_z"] == round(expected["d_z"], 3)  # rounded like Table 1's d
    assert row["p_value"] == float(f"{expected['p_value']:.2e}")  # and its p-values
    description = parent.data.tags["mlflow.note.content"]
    assert "### Controls against the ticket" in description
    assert "| &nbsp;digits&nbsp; | &nbsp;`random`&nbsp; | &nbsp;4&nbsp; |" in description
    sources = pd.read_csv(
        Path(client.download_artifacts(parent.info.run_id, "tables/source_runs.csv", str(tmp_path)))
    )
    assert sorted(sources["random_test_acc"]) == sorted(RANDOM)
