"""A run's artifacts written into one folder and logged in one call: its tables (JSON as `mlflow.log_table`
writes them, and CSV), figures (PNG) and texts.

One upload per run instead of one per file, and for a table three more store calls (`log_table` lists the
run's artifacts, reads the run and rewrites its tag): on a tracking server, each of those is a round trip.
The UI shows the JSON tables as tables because the run's tag `mlflow.loggedArtifacts` lists them, as
`log_table` would (`tests/test_report_artifacts.py` holds both to what `log_table` writes).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS

from analysis.reporting import tables
from lottery.tracking import contract


class RunArtifacts:
    """The files of one run, gathered in `folder` under their artifact paths."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tables: list[str] = []

    def _path(self, artifact: str) -> Path:
        path = self.folder / artifact
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def table(self, name: str, frame: pd.DataFrame) -> None:
        """`tables/<name>.json` and `.csv`, its numbers rounded for reading (`tables.rounded`)."""
        frame = tables.rounded(frame)
        json_artifact = contract.table_artifact(name)
        frame.to_json(self._path(json_artifact), orient="split", index=False, date_format="iso")
        frame.to_csv(self._path(contract.table_artifact(name, "csv")), index=False)
        self.tables.append(json_artifact)

    def figure(self, name: str, figure: Figure) -> None:
        """`figures/<name>.png`."""
        figure.savefig(self._path(contract.figure_artifact(name)))

    def text(self, artifact: str, text: str) -> None:
        self._path(artifact).write_text(text, encoding="utf-8")


@contextlib.contextmanager
def logged_together(client, run_id: str) -> Iterator[RunArtifacts]:
    """Gather the run's artifacts in the block; when it completes, log them in one call and list its tables
    in the run's `mlflow.loggedArtifacts` tag. Nothing is logged if the block fails."""
    with tempfile.TemporaryDirectory() as folder:
        artifacts = RunArtifacts(Path(folder))
        yield artifacts
        client.log_artifacts(run_id, folder)
    if artifacts.tables:
        listed = [{"path": path, "type": "table"} for path in artifacts.tables]
        client.set_tag(run_id, MLFLOW_LOGGED_ARTIFACTS, json.dumps(listed))
