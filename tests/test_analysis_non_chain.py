"""A model whose layers do not form a chain (a shortcut's inputs are not the previous layer's units, as in a
ResNet): the analysis says so in one line, measures no distances, and still reports the kernel patterns of
its 3×3 first layer and the controls' accuracies against the tickets' (synthetic trials)."""

from __future__ import annotations

from pathlib import Path

from analysis_fixtures import log_trials
from mlflow import MlflowClient

from analysis.__main__ import main
from lottery.tracking import contract

# conv1 → conv2, then a dense layer over conv2's 8 units *and* the 3 input channels (a skip): 35 inputs
RESIDUAL = {
    "conv1": (8, 3, 3, 3),
    "conv2": (8, 8, 3, 3),
    "dense1": (12, 35),
    "dense2": (12, 12),
    "output": (10, 12),
}
NOTE = "distances skipped: residual's layers do not form a chain (a layer with 35 inputs cannot follow"


def test_a_model_that_is_no_chain_gets_patterns_and_accuracies_but_no_distances(
    store_uri, capsys, undrawn, tmp_path
):
    accuracies = {"test_acc": [0.8, 0.7, 0.9], "random_test_acc": [0.5, 0.6, 0.4]}
    log_trials(store_uri, "digits", 3, shapes=RESIDUAL, model="residual", accuracies=accuracies)
    main(["--pairs", "3", "--ties", "first"])
    out = capsys.readouterr().out
    assert NOTE in out and "no condition had enough tickets for Table 1" in out
    client = MlflowClient(store_uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("analysis").experiment_id],
        f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'",
    )
    assert parent.info.status == "FINISHED" and parent.data.params["model"] == "residual"
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert {r.data.tags[contract.TAG_ROLE] for r in children} == {contract.ROLE_PATTERNS}
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert {"tables/table_A3_patterns.json", "tables/controls.json"} <= tables
    notes = Path(client.download_artifacts(parent.info.run_id, "notes.txt", str(tmp_path))).read_text()
    assert NOTE in notes
