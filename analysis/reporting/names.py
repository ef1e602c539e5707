"""What an analysis run is called: what it analysed (model, datasets, the configuration of each, the pairs
actually drawn) and how, unique among the analysis runs of its experiment."""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.entities import ViewType

from analysis.pipeline import Analysis
from analysis.tickets.store import all_pages
from lottery.tracking import contract

CONFIG_DIGITS = 8  # of a configuration id in a run name: enough to tell a store's configurations apart


def run_name(analysis: Analysis, configs: Mapping[str, str]) -> str:
    """The analysis run's name: which model's tickets, which configuration of each dataset, how many pairs
    were drawn per condition (a range where conditions had fewer than asked for; "no pairs" where the layers
    form no chain) and the settings."""
    settings = analysis.settings
    drawn = sorted({len(c.pairs) for c in analysis.conditions})
    pairs = "–".join(str(n) for n in dict.fromkeys([drawn[0], drawn[-1]])) if drawn else "no"
    extra = "" if settings.positive_weight == 0.5 else f" · positive weight {settings.positive_weight:g}"
    config = "+".join(configs[dataset][:CONFIG_DIGITS] for dataset in settings.datasets)
    return (
        f"analysis · {settings.model} · {'+'.join(settings.datasets)} · config {config} · {pairs} pairs · "
        f"seed {settings.seed} · ties {settings.ties}{extra}"
    )


def unique_name(client, experiment: str, name: str) -> str:
    """`name`, or `name · 2`, `name · 3`, …: the first that no analysis run of the experiment carries yet
    (deleted ones included)."""
    query = f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_ANALYSIS}'"
    found = all_pages(lambda token: client.search_runs([experiment], query, ViewType.ALL, page_token=token))
    taken = {run.info.run_name for run in found}
    return next(
        candidate
        for candidate in (name if k == 1 else f"{name} · {k}" for k in range(1, len(taken) + 2))
        if candidate not in taken
    )
