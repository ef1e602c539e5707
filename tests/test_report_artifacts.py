"""An analysis run's files go up in one call (`analysis.reporting.artifacts`), yet read as if each had been
logged on its own: a table as `MlflowClient.log_table` writes it (the same JSON, listed the same way in the
tag the UI reads), a figure as `log_figure` saves it, a text as `log_text` writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS

from analysis.reporting import artifacts, tables
from lottery.tracking import contract, store


def _files(client: MlflowClient, run_id: str, folder) -> dict[str, bytes]:
    local = client.download_artifacts(run_id, "", str(folder))
    return {
        path.relative_to(local).as_posix(): path.read_bytes()
        for path in sorted(Path(local).rglob("*"))
        if path.is_file()
    }


def test_a_run_s_files_logged_together_read_as_if_logged_one_by_one(store_uri, tmp_path):
    client = store.connect(store_uri)
    experiment = store.experiment_id(client, "analysis")
    frame = pd.DataFrame({"condition": ["WTs_digits", "random"], "p": [0.0123456, 1e-9], "n": [3, 4]})
    figure = Figure(figsize=(2, 1))
    figure.subplots().plot([0, 1], [1, 0])

    together = client.create_run(experiment).info.run_id
    with artifacts.logged_together(client, together) as logged:
        logged.table(contract.TABLE_1, frame)
        logged.table(contract.TABLE_PAIRS, frame.head(1))
        logged.figure(contract.FIGURE_DISTANCES, figure)
        logged.text(contract.NOTES_ARTIFACT, "a note\n")

    one_by_one = client.create_run(experiment).info.run_id
    for name, table in ((contract.TABLE_1, frame), (contract.TABLE_PAIRS, frame.head(1))):
        rounded = tables.rounded(table)
        client.log_table(one_by_one, data=rounded, artifact_file=contract.table_artifact(name))
        client.log_text(one_by_one, rounded.to_csv(index=False), contract.table_artifact(name, "csv"))
    client.log_figure(one_by_one, figure, contract.figure_artifact(contract.FIGURE_DISTANCES))
    client.log_text(one_by_one, "a note\n", contract.NOTES_ARTIFACT)

    assert _files(client, together, tmp_path / "a") == _files(client, one_by_one, tmp_path / "b")
    tags = [
        json.loads(client.get_run(run).data.tags[MLFLOW_LOGGED_ARTIFACTS]) for run in (together, one_by_one)
    ]
    assert (
        tags[0]
        == tags[1]
        == [
            {"path": "tables/table_1.json", "type": "table"},
            {"path": "tables/pair_distances.json", "type": "table"},
        ]
    )


def test_a_block_that_fails_logs_nothing(store_uri):
    client = store.connect(store_uri)
    run_id = client.create_run(store.experiment_id(client, "analysis")).info.run_id
    try:
        with artifacts.logged_together(client, run_id) as logged:
            logged.text(contract.NOTES_ARTIFACT, "a note\n")
            raise KeyError("drawing failed")
    except KeyError:
        pass
    assert client.list_artifacts(run_id) == []
    assert MLFLOW_LOGGED_ARTIFACTS not in client.get_run(run_id).data.tags
