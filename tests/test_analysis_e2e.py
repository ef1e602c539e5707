"""End to end: `make train DATASET=digits` → `make analyze` → the runs and metrics in the same store."""

from __future__ import annotations

from mlflow import MlflowClient

from analysis.__main__ import main as analyze
from experiments import train
from lottery.models.toy import Network as Toy
from lottery.tracking import contract

# The analysis reads the layers from the tickets: the toy model goes through the same path as Conv-2.
LAYER_NAMES = Toy.SPEC.layer_names
FILTERS, IN_CHANNELS = Toy().conv1.weight.shape[:2]  # of the first conv layer, whose kernels are counted


def test_train_then_analyze(store_uri, tiny_data, capsys, monkeypatch, undrawn):
    # One round pruning at the paper's rates gives tickets at its sparsity; a tolerance of 100 points, with
    # the chance rule lifted (one epoch on 120 images learns little), makes every ticket winning, so every
    # condition of one dataset has pairs.
    monkeypatch.setattr("lottery.training.verdict.chance_threshold", lambda labels: (0.0, 0.0))
    rates = ["--conv-rate", "0.686", "--dense-rate", "0.914", "--output-rate", "0.686"]
    args = [
        "--dataset",
        "digits",
        "--model",
        "toy",
        "--trials",
        "3",
        "--rounds",
        "1",
        "--epochs",
        "1",
        *rates,
    ]
    train.main([*args, "--winning-tolerance", "100", "--no-progress-bar"])
    analyze([])
    out = capsys.readouterr().out
    assert "Table 1 — NNSTD against random" in out and "Table 1 — NNSTD± against random" in out

    client = MlflowClient(store_uri)
    runs = client.search_runs([client.get_experiment_by_name("analysis").experiment_id])
    (parent,) = [r for r in runs if r.data.tags[contract.TAG_ROLE] == contract.ROLE_ANALYSIS]
    assert (
        parent.data.params["datasets"] == "digits" and len(parent.data.params["source_runs"].split(",")) == 3
    )
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    conditions = {
        r.info.run_name.removeprefix("condition · "): r.data
        for r in children
        if r.data.tags[contract.TAG_ROLE] == contract.ROLE_CONDITION
    }
    assert {name: data.metrics["pairs.used"] for name, data in conditions.items()} == {
        "random": 3,
        "WTs_digits": 3,
        "mixed_digits": 6,
    }
    for name in ("WTs_digits", "mixed_digits"):
        for metric in ("nnstd", "nnstd_pm"):
            for scope in ["", *(f"per_layer.{layer}." for layer in LAYER_NAMES)]:
                values = conditions[name].metrics
                assert 0 < values[f"{scope}{metric}.mean"] <= 1
                # both tests, for every row of Table 1 and the per-layer tables
                both = ("diff_mean", "p_value", "cohen_d", "p_tickets", "p_holm_tickets")
                interval = ("diff_ci_low_tickets", "diff_ci_high_tickets")
                assert {f"{scope}{metric}.{s}" for s in (*both, *interval)} <= set(values)
                # the share where the pairs can tell ticket effects from pair noise: not in 3 pairs of 3
                # tickets (WTs_digits), in 6 pairs of 3 winning and 3 random tickets (mixed_digits)
                assert (f"{scope}{metric}.ticket_share" in values) == (name == "mixed_digits")
                assert (
                    conditions[name].tags[f"{scope}{metric}.significant"]
                    == str(values[f"{scope}{metric}.p_holm_tickets"] < 0.01).lower()
                )
            assert conditions[name].tags[f"{metric}.effect"]
    patterns = {
        r.info.run_name.removeprefix("patterns · "): r.data
        for r in children
        if r.data.tags[contract.TAG_ROLE] == contract.ROLE_PATTERNS
    }
    assert set(patterns) == {"random", "WTs_digits"}
    assert (
        patterns["WTs_digits"].metrics["kernels_with_0"]
        + sum(patterns["WTs_digits"].metrics[f"kernels_with_{n}"] for n in range(1, 10))
        == 3 * FILTERS * IN_CHANNELS
    )
