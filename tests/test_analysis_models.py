"""One analysis per model: tickets of different models are never paired; a dense-first chain (LeNet-300-100)
is analysed without kernel patterns; late-rewound runs take their signs from θ_k (synthetic trials)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import (
    LENET_SHAPES,
    TOY_SHAPES,
    artifact_file,
    error_line,
    log_trials,
    naive_nnstd,
)
from mlflow import MlflowClient

from analysis.__main__ import main
from analysis.pipeline import Settings, analyse
from analysis.tickets.loading import load_tickets
from analysis.tickets.selection import of_model, select_runs
from analysis.tickets.store import finished_trial_runs
from lottery.tracking import contract, store
from lottery.tracking.arrays import load_arrays

SKIPPED = "kernel patterns skipped: lenet300's first layer is not a 3×3 convolution"


@pytest.fixture
def two_models(store_uri) -> dict[str, set[str]]:
    """digits trials of the toy model and of a LeNet-shaped one (svhn for toy too): model -> run ids."""
    toy = log_trials(store_uri, "digits", 3, shapes=TOY_SHAPES, model="toy")
    toy += log_trials(store_uri, "svhn", 3, shapes=TOY_SHAPES, model="toy")
    lenet = log_trials(store_uri, "digits", 3, shapes=LENET_SHAPES, model="lenet300")
    return {"toy": set(toy), "lenet300": set(lenet)}


def _analysis_runs(uri: str) -> dict[str, object]:
    """model -> its analysis run, checked to be one per model."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("analysis").experiment_id])
    parents = [r for r in runs if r.data.tags[contract.TAG_ROLE] == contract.ROLE_ANALYSIS]
    by_model = {r.data.params["model"]: r for r in parents}
    assert len(by_model) == len(parents)
    return by_model


def _table(uri: str, run_id: str, name: str, tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(MlflowClient(uri).download_artifacts(run_id, f"tables/{name}.csv", str(tmp_path)))


def test_each_model_is_analysed_on_its_own_and_never_paired_with_another(
    store_uri, two_models, capsys, tmp_path, undrawn
):
    main(["--pairs", "4", "--ties", "first"])
    out = capsys.readouterr().out
    assert "model toy: analysis 2 of 2" in out and "model lenet300: analysis 1 of 2" in out
    parents = _analysis_runs(store_uri)
    assert set(parents) == {"toy", "lenet300"}
    assert parents["toy"].info.run_name == (
        "analysis · toy · digits+svhn · config cfg0+cfg0 · 3–4 pairs · seed 0 · ties first"
    )  # the same-θ0 condition: 3 pairs, one per trial
    assert parents["lenet300"].info.run_name.startswith("analysis · lenet300 · digits · ")
    assert parents["lenet300"].data.params["datasets"] == "digits"
    for model, parent in parents.items():
        assert parent.info.status == "FINISHED"
        assert set(parent.data.params["source_runs"].split(",")) == two_models[model]
        assert f"**Table 1 of {model} tickets on " in parent.data.tags["mlflow.note.content"]
        pairs = _table(store_uri, parent.info.run_id, "pair_distances", tmp_path / model)
        assert len(pairs) and set(pairs["run_a"]) | set(pairs["run_b"]) <= two_models[model]


def test_a_dense_first_chain_is_analysed_without_kernel_patterns(
    store_uri, two_models, capsys, undrawn, tmp_path
):
    main(["--pairs", "4", "--ties", "first", "--model", "lenet300"])
    out = capsys.readouterr().out
    assert SKIPPED in out and "Table 1 — NNSTD± against random" in out
    (parent,) = _analysis_runs(store_uri).values()
    client = MlflowClient(store_uri)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    roles = {r.data.tags[contract.TAG_ROLE] for r in children}
    assert roles == {contract.ROLE_CONDITION}, "no pattern runs for a dense first layer"
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert "tables/table_1.json" in tables
    assert not {"tables/table_A3_patterns.json", "tables/top_patterns.json"} & tables
    notes = Path(client.download_artifacts(parent.info.run_id, "notes.txt", str(tmp_path))).read_text()
    assert SKIPPED in notes and SKIPPED in parent.data.tags["mlflow.note.content"]


def test_dense_first_distances_are_nnstd_by_definition(store_uri):
    log_trials(store_uri, "digits", 3, shapes=LENET_SHAPES, model="lenet300")
    client = store.connect(store_uri)
    _, runs, _ = select_runs(finished_trial_runs(client), None)
    tickets, layer_names = load_tickets(client, runs)
    assert layer_names == tuple(LENET_SHAPES)
    analysis = analyse(
        tickets,
        Settings(("digits",), pairs=6, ties="first", model="lenet300"),
        layer_names,
        log=lambda _: None,
    )
    assert analysis.patterns == {} and analysis.notes[-1] == SKIPPED
    assert {c.name for c in analysis.conditions} == {"random", "WTs_digits", "mixed_digits"}
    for condition in analysis.conditions:
        for metric, signed in (("nnstd", False), ("nnstd_pm", True)):
            for (i, j), per_layer in zip(
                condition.pairs, analysis.distances[condition.name][metric], strict=True
            ):
                expected = naive_nnstd(tickets[i].layers, tickets[j].layers, signed=signed)
                np.testing.assert_allclose(per_layer, expected, atol=1e-12)


def test_the_model_option_picks_one_model(store_uri, two_models, capsys, monkeypatch):
    logged = []
    monkeypatch.setattr(
        "analysis.__main__.log_analysis", lambda client, analysis, runs, notes: logged.append(analysis) or "-"
    )
    main(["--model", "toy", "--pairs", "2", "--ties", "first"])
    ((analysis),) = logged
    assert analysis.settings.model == "toy" and analysis.settings.datasets == ("digits", "svhn")
    assert {t.run_id for t in analysis.tickets} == two_models["toy"]
    assert set(analysis.patterns) == {"random", "WTs_digits", "WTs_svhn"}


@pytest.mark.parametrize("model", ["conv4", "resnet"])
def test_a_model_without_runs_is_a_one_line_error(store_uri, two_models, capsys, model):
    line = error_line(capsys, ["--model", model])
    assert f"no finished trial runs of model {model}; the store has lenet300, toy" in line


def test_datasets_one_model_lacks_leave_that_model_out(store_uri, two_models, capsys, monkeypatch):
    logged = []
    monkeypatch.setattr(
        "analysis.__main__.log_analysis", lambda client, analysis, runs, notes: logged.append(analysis) or "-"
    )
    main(["--datasets", "svhn", "--pairs", "2", "--ties", "first"])
    assert [a.settings.model for a in logged] == ["toy"]
    assert "model lenet300 skipped: no finished trial runs of svhn" in capsys.readouterr().out
    log_trials(store_uri, "cifar10", 2, shapes=LENET_SHAPES, model="lenet300")
    line = error_line(capsys, ["--datasets", "svhn", "cifar10"])
    assert "no model has finished trial runs of every dataset in --datasets" in line
    assert "lenet300 lacks svhn; toy lacks cifar10" in line


def test_runs_without_the_model_param_are_conv2(store_uri):
    log_trials(store_uri, "digits", 2)
    log_trials(store_uri, "digits", 2, shapes=TOY_SHAPES, model="toy", first_trial=2)
    runs = finished_trial_runs(store.connect(store_uri))
    assert sorted((r.model, r.trial) for r in runs) == [("conv2", 0), ("conv2", 1), ("toy", 2), ("toy", 3)]
    assert sorted(r.trial for r in of_model(runs, "conv2")) == [0, 1]
    with pytest.raises(ValueError, match="several models"):
        select_runs(runs, None)


def test_late_rewound_tickets_take_their_signs_from_the_rewind_weights(store_uri):
    (rewound,) = log_trials(store_uri, "digits", 1, shapes=TOY_SHAPES, model="toy", rewind_step=3)
    (plain,) = log_trials(store_uri, "digits", 1, shapes=TOY_SHAPES, model="toy", first_trial=1)
    client = store.connect(store_uri)
    _, runs, _ = select_runs(finished_trial_runs(client), None)
    assert [(r.run_id, r.rewind_step) for r in runs] == [(rewound, 3), (plain, 0)]
    tickets, names = load_tickets(client, runs)
    for ticket in tickets:
        source = "rewind" if ticket.run_id == rewound else "init"
        weights = load_arrays(artifact_file(store_uri, ticket.run_id, f"ticket/{source}.npz"), names)
        theta0 = load_arrays(artifact_file(store_uri, ticket.run_id, "ticket/init.npz"), names)
        mask = load_arrays(artifact_file(store_uri, ticket.run_id, f"ticket/{ticket.kind}_mask.npz"), names)
        for name, layer in zip(names, ticket.layers, strict=True):
            np.testing.assert_array_equal(layer, np.sign(weights[name]) * mask[name])
        if source == "rewind":  # θ_k's signs are not θ0's: the test tells them apart
            from_theta0 = [np.sign(theta0[name]) * mask[name] for name in names]
            assert any((a != b).any() for a, b in zip(ticket.layers, from_theta0, strict=True))
    assert tickets[0].init == "init-0-0", "lottery.init stays θ0's identity"
