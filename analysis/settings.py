"""The analysis's settings, each declared once with `hparam` (default, help, bounds): `python -m analysis`
derives its options from them (`lottery.options`), and the analysis run logs them as its params
(`Settings.params`, under the names stores have always held)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from analysis.distances.nnstd import DEFAULT_DRAWS, DEFAULT_POSITIVE_WEIGHT, TIES, Method
from lottery.options import check_bounds, hparam, logged_name
from lottery.tracking import contract

MAX_PAIRS = 10_000  # per condition: 10 conditions of 10,000 pairs take hours already
MAX_DRAWS = 1_000  # per direction and pair: 1000 already costs minutes per pair where ties abound


@dataclass(frozen=True)
class Settings:
    """The analysis's options: datasets in scope, pairs per condition, seed (of the pair, group and tie
    draws), α, tickets per pattern group, how distances treat ties and weigh NED±'s signs, the model whose
    tickets these are (an analysis covers one), and the configurations asked for."""

    datasets: tuple[str, ...] = hparam(
        (),
        "datasets to analyse; aliases work, a repeated name counts once (None: every dataset with tickets in "
        "the store)",
        metavar="NAME",
    )
    pairs: int = hparam(50, "pairs drawn per condition", minimum=1, maximum=MAX_PAIRS)
    seed: int = hparam(0, "seed of the pair, pattern-group and tie draws", minimum=0)
    alpha: float = hparam(
        0.01,
        "significance level of the Holm-adjusted ticket-level p-values",
        minimum=0,
        maximum=1,
        strict=True,
    )
    k: int | None = hparam(
        None,
        "at most K tickets per pattern group (None: all)",
        minimum=1,
        flags=("-K", "--k"),
        metavar="K",
        param=contract.PARAM_TICKETS_PER_GROUP,
    )
    ties: str = hparam(
        "average",
        "where a layer has several optimal matchings: average the distances over matchings drawn among them, "
        "symmetric in the two tickets, or take scipy's first, as the paper and Liu et al.",
        choices=TIES,
    )
    tie_draws: int = hparam(
        DEFAULT_DRAWS,
        "draws per direction and pair for --ties average",
        minimum=1,
        maximum=MAX_DRAWS,
        metavar="R",
    )
    positive_weight: float = hparam(
        DEFAULT_POSITIVE_WEIGHT,
        "NED± = W · NED(G⁺, H⁺) + (1 − W) · NED(G⁻, H⁻) (0.5: the paper's NED±)",
        minimum=0,
        maximum=1,
        metavar="W",
    )
    model: str | None = hparam(
        None,
        "analyse only the tickets of this model, one of those with trial runs in the store (None: each "
        "model in turn, one analysis run each)",
        metavar="NAME",
    )
    configs: tuple[str, ...] = hparam(
        (),
        "the configuration to analyse where a dataset's trial runs hold several: its id (tag lottery.config) "
        "or the id's first characters, one per dataset (None: each dataset's with the most runs)",
        flags=("--config",),
        metavar="ID",
        param=None,  # logged per dataset, with how it was chosen (`analysis.reporting.report`)
    )

    def __post_init__(self) -> None:
        """UserError for a value out of bounds (`--pairs must lie in 1..10000, got 0`)."""
        check_bounds(self)

    @property
    def method(self) -> Method:
        return Method(self.ties, self.tie_draws, self.seed, self.positive_weight)

    @property
    def tie_rule(self) -> str:
        """How tied matchings are treated, in words."""
        if self.ties == "first":
            return "ties: scipy's first optimal matching (the paper's procedure)"
        return f"ties: averaged over matchings drawn among the optimal ones, {self.tie_draws} draws each way"

    def params(self) -> dict[str, str]:
        """The settings as an analysis run logs them: each under its param name (`k` as `K`), several values
        comma-joined, no limit (None) as `all`, and the tie draws as `none` where ties are not averaged."""
        logged = {}
        for f in fields(self):
            name, value = logged_name(f), getattr(self, f.name)
            if name is not None:
                logged[name] = (
                    ",".join(value) if isinstance(value, tuple) else "all" if value is None else str(value)
                )
        if self.ties != "average":
            logged["tie_draws"] = "none"
        return logged
