"""What a reader sees in a browser: `make ui` over a store with trial runs and an analysis, driven by headless
Chromium (Playwright). The analysis run's Table 1 as an artifact and in its description, the links our
commands print landing on the runs table, and the condition runs side by side in Compare.

Needs Playwright (`pip install playwright`, in the `dev` extra) and a Chromium executable (`apt-get install -y
chromium`; or LOTTERY_CHROMIUM naming one); the tests skip, saying which is missing, without them. With
LOTTERY_SCREENSHOTS=<folder> they leave a screenshot of each page there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from analysis_fixtures import artifact_file, draw_nothing, log_trials
from entry_points import REPO
from mlflow import MlflowClient
from tracking_server import free_port, stop, wait_until_healthy
from trial_store import empty_store

from analysis.__main__ import main as analyse
from lottery.tracking import contract
from lottery.tracking.uris import browse_url

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the tests skip, saying so
    expect = sync_playwright = None

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ENV = "LOTTERY_CHROMIUM"
SCREENSHOTS_ENV = "LOTTERY_SCREENSHOTS"
TRIALS = 4
PAIRS = 4
# A page renders in about 3 s on an idle 2-core machine; much longer while other tests load it.
RENDER_MS = 60_000
TABLE_1 = "Table 1 — NNSTD against random"
TABLE_1_PM = "Table 1 — NNSTD± against random"
CONTROLS = "Controls against the ticket"


def chromium_executable() -> tuple[str | None, str]:
    """Chromium's executable (LOTTERY_CHROMIUM if set, else the first of CHROMIUM_NAMES on PATH), or None
    and why not, said as a skip reason."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return shutil.which(named), (
            f"no Chromium: {CHROMIUM_ENV}={named} is not an executable "
            "(name Chromium's, or unset it and apt-get install -y chromium)"
        )
    found = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    names = ", ".join(CHROMIUM_NAMES)
    return found, f"no Chromium ({names} on PATH, or {CHROMIUM_ENV}): apt-get install -y chromium"


def test_chromium_is_looked_up_as_the_skip_reason_says(monkeypatch, tmp_path):
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent")
    assert chromium_executable() == (
        None,
        f"no Chromium: {CHROMIUM_ENV}=/nonexistent is not an executable "
        "(name Chromium's, or unset it and apt-get install -y chromium)",
    )
    browser = tmp_path / "bin" / "chromium-browser"
    browser.parent.mkdir()
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_ENV, str(browser))
    assert chromium_executable()[0] == str(browser)
    monkeypatch.delenv(CHROMIUM_ENV)
    monkeypatch.setenv("PATH", str(browser.parent))
    assert chromium_executable()[0] == str(browser)
    monkeypatch.setenv("PATH", str(tmp_path))
    path, reason = chromium_executable()
    assert path is None and reason.endswith(": apt-get install -y chromium")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or the test skipped: no Playwright, or no Chromium."""
    if sync_playwright is None:
        pytest.skip("no Playwright: pip install playwright (it is in the dev extra: pip install -e '.[dev]')")
    executable, reason = chromium_executable()
    if executable is None:
        pytest.skip(reason)
    expect.set_options(timeout=RENDER_MS)
    with sync_playwright() as playwright:
        # Playwright's own browser download is not needed: it drives the system's Chromium. No sandbox: CI
        # runs as root, where Chromium refuses to start with one; the pages are our own, on loopback.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class UI:
    url: str  # where `make ui` listens
    port: int
    tracking_uri: str
    digits: str  # the experiments' ids
    analysis: str
    analysis_run: str
    printed_link: str  # the analysis CLI's `browse it …` link
    announcement: str  # what `make ui` printed
    note: str  # the analysis run's description (markdown)
    table_1: dict  # tables/table_1.json, as `mlflow.log_table` wrote it


@pytest.fixture(scope="module")
def ui(browser, template_store, tmp_path_factory) -> Iterator[UI]:
    """`make ui` on a free port over a store with 4 digits trial runs and their analysis (4 pairs; its figures
    blank: no test here looks at one)."""
    root = tmp_path_factory.mktemp("browser")
    uri = empty_store(template_store, root / "store")
    port = free_port()
    accuracies = {
        "test_acc": [0.91, 0.93, 0.92, 0.94],
        "random_test_acc": [0.81, 0.84, 0.80, 0.83],
        "signs_test_acc": [0.90, 0.94, 0.91, 0.93],
    }
    log_trials(uri, "digits", TRIALS, accuracies=accuracies)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(out):
        draw_nothing(env)
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.setenv("HOST", "127.0.0.1")
        env.setenv("PORT", str(port))  # where the printed link points
        analyse(["--pairs", str(PAIRS), "--seed", "7", "-K", "3", "--tie-draws", "3"])
    (link,) = re.findall(
        rf"^browse it \(after `MLFLOW_TRACKING_URI={re.escape(uri)} make ui`\): (\S+)$",
        out.getvalue(),
        flags=re.MULTILINE,
    )
    client = MlflowClient(uri)
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    (parent,) = client.search_runs(
        [experiments["analysis"]], filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'"
    )
    run_id = parent.info.run_id
    table_1 = json.loads(artifact_file(uri, run_id, "tables/table_1.json").read_text())

    log = root / "ui.log"
    command = ["make", "--no-print-directory", "--old-file=.venv/.installed", "ui", "HOST=127.0.0.1"]
    with log.open("wb") as output:
        # Its own process group, so that stopping it reaches make and the mlflow server alike.
        server = subprocess.Popen(
            [*command, f"PORT={port}"],
            cwd=REPO,
            env={**os.environ, "MLFLOW_TRACKING_URI": uri},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, log, timeout=120.0)
        deadline = time.monotonic() + 30  # the links follow the first answer
        while "  digits: " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield UI(
            url=url,
            port=port,
            tracking_uri=uri,
            digits=experiments["digits"],
            analysis=experiments["analysis"],
            analysis_run=run_id,
            printed_link=link,
            announcement=log.read_text(),
            note=parent.data.tags["mlflow.note.content"],
            table_1=table_1,
        )
    finally:
        stop(server)


@pytest.fixture
def page(browser, request):
    """A page of a fresh browser context (nothing remembered: the UI's GenAI / Model training switch as a
    first visit finds it); screenshot to LOTTERY_SCREENSHOTS/<test>.png at the end if set."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RENDER_MS)
    yield page
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{request.node.name}.png"))
    context.close()


def js_number(value: float) -> str:
    """How the UI writes a number of a JSON table: JavaScript's shortest round-trip form, which is Python's
    repr where neither switches to exponents."""
    assert 1e-4 <= abs(value) < 1e16, value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@pytest.mark.drivers
def test_table_1_artifact_shows_its_numbers(ui, page):
    url = f"{ui.url}/#/experiments/{ui.analysis}/runs/{ui.analysis_run}/artifacts/tables/table_1.json"
    page.goto(f"{url}?workflowType=machine_learning")
    expect(page).to_have_title(re.compile(rf"^Run {ui.analysis_run} - MLflow$"), timeout=RENDER_MS)
    columns = ui.table_1["columns"]
    assert not any("." in column for column in columns)
    for column in ("condition", "metric", "mean", "std"):
        header = page.get_by_role("columnheader").get_by_role("button", name=column, exact=True)
        expect(header).to_be_visible()
    rows = [dict(zip(columns, row, strict=True)) for row in ui.table_1["data"]]
    for row in rows:
        shown = (
            page.get_by_role("row")
            .filter(has=page.get_by_role("cell", name=row["condition"], exact=True))
            .filter(has=page.get_by_role("cell", name=row["metric"], exact=True))
        )
        expect(shown).to_have_count(1)
        for column in ("mean", "std"):
            expect(shown.get_by_role("cell", name=js_number(row[column]), exact=True)).to_be_visible()
    (random,) = [row for row in rows if row["condition"] == "random" and row["metric"] == "NNSTD"]
    mean = page.get_by_role("cell", name=js_number(random["mean"]), exact=True)
    expect(mean).to_be_in_viewport()  # `random`'s NNSTD: the first row, mean the 4th column


def markdown_table(note: str, heading: str) -> list[list[str]]:
    """The body rows of the first markdown table under `### heading` in `note`, as cells (padding and
    backticks dropped)."""
    lines = note.split(f"### {heading}\n", 1)[1].splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("|")) :]
    table = lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    return [
        [cell.replace("&nbsp;", " ").strip().strip("`") for cell in line.strip("|").split("|")]
        for line in table[2:]
    ]


@pytest.mark.drivers
def test_analysis_run_page_shows_table_1_and_the_controls_in_its_description(ui, page):
    assert ui.printed_link == (
        f"{ui.url}/#/experiments/{ui.analysis}/runs/{ui.analysis_run}?workflowType=machine_learning"
    )
    page.goto(ui.printed_link)
    expect(page).to_have_title(re.compile(rf"^Run {ui.analysis_run} - MLflow$"), timeout=RENDER_MS)
    # The description opens folded after its first lines: Table 1 is under "Show more".
    page.get_by_role("button", name="Expand description").click()
    for position, heading in enumerate((TABLE_1, TABLE_1_PM)):
        expected = markdown_table(ui.note, heading)
        assert [row[0] for row in expected] == ["random", "WTs_digits", "mixed_digits"]
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        table = page.locator("[data-testid=note-editor-preview-content] table").nth(position)
        headers = table.locator("thead th")
        expect(headers.nth(6)).to_have_text("p pairs (paper)")  # the two tests, headed apart
        expect(headers.nth(8)).to_have_text("p tickets (ours)")
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(len(expected))
        for index, cells in enumerate(expected):
            expect(rows.nth(index).locator("td")).to_have_text(cells)
            expect(rows.nth(index).locator("td").first.locator("code")).to_have_text(cells[0])
    expect(page.get_by_role("heading", name=TABLE_1, exact=True)).to_be_in_viewport()
    expected = markdown_table(ui.note, CONTROLS)
    assert [row[:2] for row in expected] == [["digits", "random"], ["digits", "signs"]]
    expect(page.get_by_role("heading", name=CONTROLS, exact=True)).to_be_visible()
    rows = page.locator("[data-testid=note-editor-preview-content] table").nth(2).locator("tbody tr")
    expect(rows).to_have_count(len(expected))
    for index, cells in enumerate(expected):
        expect(rows.nth(index).locator("td")).to_have_text(cells)


def runs_link(ui: UI, experiment_id: str, monkeypatch) -> str:
    """The link to an experiment's runs table our commands print, with HOST and PORT those of `make ui`."""
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", str(ui.port))
    return browse_url(ui.tracking_uri, experiment_id)


@pytest.mark.drivers
def test_printed_link_lands_on_the_runs_table(ui, page, monkeypatch):
    url = runs_link(ui, ui.digits, monkeypatch)
    assert url == f"{ui.url}/#/experiments/{ui.digits}/runs?workflowType=machine_learning"
    assert f"  digits: {url}\n" in ui.announcement  # `make ui` prints the same link
    page.goto(url)
    expect(page).to_have_title(re.compile(rf"^Runs - Experiment {ui.digits} - MLflow$"), timeout=RENDER_MS)
    for trial in range(TRIALS):
        expect(page.get_by_role("link", name=f"digits/trial-{trial:02d}", exact=True)).to_be_visible()
    expect(page.get_by_text(f"{TRIALS} matching runs")).to_be_visible()
    assert page.url.startswith(url.removesuffix("?workflowType=machine_learning"))


@pytest.mark.drivers
def test_compare_the_condition_runs(ui, page, monkeypatch):
    """Expand the analysis run in its runs table, tick its condition runs, press Compare."""
    page.goto(runs_link(ui, ui.analysis, monkeypatch))
    expect(page).to_have_title(re.compile(rf"^Runs - Experiment {ui.analysis} - MLflow$"), timeout=RENDER_MS)
    analysis = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile("^analysis · ")))
    analysis.get_by_role("button").first.click()  # the unnamed [+] before the run's name
    conditions = ["condition · random", "condition · WTs_digits", "condition · mixed_digits"]
    for name in conditions:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
        row.get_by_role("checkbox", name=re.compile("toggle row selection")).check()
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page).to_have_title("Compare Runs - MLflow", timeout=RENDER_MS)
    expect(page.get_by_text("Comparing 3 Runs from 1 Experiment")).to_be_visible()
    for name in conditions:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    # Metrics: a small scrolled box (names and values in separate virtualised grids), sorted by name.
    metric = page.get_by_role("link", name="nnstd.mean", exact=True)
    metric.scroll_into_view_if_needed()
    expect(metric).to_be_in_viewport()
