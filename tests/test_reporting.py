"""The logged tables' format (no dots, sensible precision), Table 1's layout, the paper's values next to
ours, and the runs' names and descriptions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from analysis_fixtures import SMALL_SHAPES, random_signed, stats_of

from analysis.pipeline import Settings, analyse
from analysis.reporting.descriptions import analysis_note
from analysis.reporting.names import run_name
from analysis.reporting.published import condition_key, paper_comparison, published
from analysis.reporting.report import metric_prefix
from analysis.reporting.tables import format_table_1, rounded, table_1
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket


def _stats(conditions: dict[str, float], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    distances = {
        name: {m: 0.8 + shift + rng.normal(0, 0.002, (12, 5)) for m in ("nnstd", "nnstd_pm")}
        for name, shift in conditions.items()
    }
    return stats_of(distances, ("conv1", "conv2", "dense1", "dense2", "output"), alpha=0.01)


def test_between_conditions_match_whichever_order_their_datasets_are_named_in():
    assert condition_key("between_cifar10_cinic10") == condition_key("between_cinic10_cifar10")
    assert condition_key("WTs_svhn") == "WTs_svhn"
    assert (
        condition_key("between_same_init_svhn_cifar10") == "between_same_init_svhn_cifar10"
    )  # not published


def test_the_paper_s_values_sit_next_to_ours_with_the_direction_compared():
    stats = _stats({"random": 0.0, "WTs_svhn": -0.01, "between_cifar10_cinic10": 0.003, "WTs_digits": -0.01})
    comparison = paper_comparison(stats).set_index(["layer", "metric", "condition"])
    assert set(comparison.index.get_level_values("condition")) == {"WTs_svhn", "between_cifar10_cinic10"}
    wts = comparison.loc[("all", "NNSTD±", "WTs_svhn")]
    assert (wts["paper_diff_mean"], wts["paper_p_value"], wts["paper_cohen_d"]) == (-0.0255, 3.8e-32, -7.94)
    assert wts["our_diff_mean"] < 0 and wts["same_direction"]
    between = comparison.loc[("all", "NNSTD±", "between_cifar10_cinic10")]  # published: −0.01 (NNSTD±)
    assert (
        between["paper_diff_mean"] == -0.01 and between["our_diff_mean"] > 0 and not between["same_direction"]
    )
    conv1 = comparison.loc[("conv1", "NNSTD", "WTs_svhn")]  # Table A.2 is NNSTD per layer
    assert (conv1["paper_diff_mean"], conv1["paper_effect"]) == (-0.0232, "very large")
    assert len(published()) == 2 * 9 + 2 * 5 * 9  # Table 1 both metrics; A.1, A.2: five layers


def test_table_1_has_no_dotted_columns_and_a_condition_s_metrics_together():
    table = table_1(_stats({"random": 0.0, "WTs_a": -0.01, "mixed_a": 0.001}))
    assert not any("." in column for column in table.columns)
    assert list(zip(table["condition"], table["metric"], strict=True)) == [
        ("random", "NNSTD"),
        ("random", "NNSTD±"),
        ("WTs_a", "NNSTD"),
        ("WTs_a", "NNSTD±"),
        ("mixed_a", "NNSTD"),
        ("mixed_a", "NNSTD±"),
    ]


def test_logged_tables_carry_sensible_precision():
    table = rounded(
        pd.DataFrame(
            {
                "mean": [0.8656712345678],
                "p_value": [0.000123456],
                "p_holm": [np.nan],
                "cohen_d": [-1.234567],
                "significant": [True],
                "beyond_ties": [None],
                "pairs": [50],
            }
        )
    )
    row = table.iloc[0].drop("p_holm").tolist()
    assert row == [0.865671, 0.000123, -1.235, "true", "", 50] and np.isnan(table.iloc[0]["p_holm"])
    assert table.to_csv(index=False).splitlines()[1] == "0.865671,0.000123,,-1.235,true,,50"


def test_names_say_what_a_run_is():
    settings = Settings(("cifar10", "svhn"), pairs=50, seed=3, ties="first", model="conv4")
    configs = {"cifar10": "62128a828e8b", "svhn": "f6b95e71a93e"}
    drawn = [SimpleNamespace(pairs=np.zeros((n, 2))) for n in (50, 50, 6, 15)]
    assert (
        run_name(SimpleNamespace(settings=settings, conditions=drawn), configs)
        == "analysis · conv4 · cifar10+svhn · config 62128a82+f6b95e71 · 6–50 pairs · seed 3 · ties first"
    )
    every = [SimpleNamespace(pairs=np.zeros((50, 2)))] * 3
    assert " · 50 pairs · " in run_name(SimpleNamespace(settings=settings, conditions=every), configs)
    assert metric_prefix("nnstd_pm", "all") == "nnstd_pm"
    assert metric_prefix("nnstd_pm", "dense1") == "per_layer.dense1.nnstd_pm"


def test_the_analysis_params_keep_the_names_stores_hold():
    """Analyses compare across versions by their params: the settings log under the names they always had."""
    settings = Settings(("cifar10", "svhn"), pairs=50, seed=3, ties="first", model="conv4", configs=("62",))
    assert settings.params() == {
        "datasets": "cifar10,svhn",
        "pairs": "50",
        "seed": "3",
        "alpha": "0.01",
        "K": "all",
        "ties": "first",
        "tie_draws": "none",
        "positive_weight": "0.5",
        "model": "conv4",
    }
    averaged = Settings(("digits",), k=4, model="conv2").params()
    assert (averaged["K"], averaged["tie_draws"], averaged["seed"]) == ("4", "8", "0")


def _analysis():
    """A small analysis in memory: 3 trials of digits, each a winning and a random ticket of one θ0."""
    rng = np.random.default_rng(0)
    tickets = [
        Ticket("digits", k, kind, f"init-{k}", f"run-{k}", tuple(random_signed(SMALL_SHAPES, rng)))
        for k in range(3)
        for kind in (WINNING_KIND, RANDOM_KIND)
    ]
    return analyse(
        tickets, Settings(("digits",), pairs=3, ties="first"), tuple(SMALL_SHAPES), log=lambda _: None
    )


def test_the_terminal_s_table_1_heads_the_paper_s_test_and_ours_apart():
    text = format_table_1(_stats({"random": 0.0, "WTs_a": -0.01, "mixed_a": 0.001}), alpha=0.01)
    nnstd = text.split("\n\n")[0].splitlines()
    assert nnstd[0] == "Table 1 — NNSTD against random"
    assert nnstd[1].startswith("p_pairs, p_holm_pairs: the paper's test (Welch over pairs); p_tickets, ")
    assert nnstd[2].startswith("significant: p_holm_tickets < 0.01 (Holm over the 2 conditions compared)")
    columns = nnstd[3].split()
    assert columns[columns.index("p_pairs") :][:4] == [
        "p_pairs",
        "p_holm_pairs",
        "p_tickets",
        "p_holm_tickets",
    ]
    assert "share" in columns


def test_the_description_names_paper_comparison_only_when_it_is_logged():
    analysis = _analysis()
    without = analysis_note(analysis, runs=[], notes=[], paper_comparison=False)
    assert "paper_comparison" not in without and "`tables/table_1.json`" in without
    assert "`tables/paper_comparison.json`" in analysis_note(
        analysis, runs=[], notes=[], paper_comparison=True
    )
    assert "| &nbsp;p pairs (paper)&nbsp; |" in without and "| &nbsp;p tickets (ours)&nbsp; |" in without
