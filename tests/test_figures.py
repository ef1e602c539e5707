"""The analysis's figures on synthetic data: what a reader compares shares a scale, colour and count scales
start at 0, axes and marks are labelled, every box says how many pairs it holds, and an empty pattern row
says "none". Figures are made, not saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import LAYER_NAMES, PAPER_PRUNED, conv2_shapes, random_signed

from analysis.patterns import kernel_patterns
from analysis.pipeline import Analysis, Settings
from analysis.reporting import figures
from analysis.statistics.conditions import Condition

THREE = (
    ["random"]
    + [f"{kind}_{ds}" for kind in ("WTs", "mixed") for ds in ("digits", "cifar10", "cinic10")]
    + ["between_digits_cifar10", "between_digits_cinic10", "between_cifar10_cinic10"]
)
ONE = ["random", "WTs_digits", "mixed_digits"]
# per layer: a level and a spread like the paper-scale synthetic tickets' (dense1 varies by ~1e-4 only)
LEVELS = np.array([0.57, 0.77, 0.944, 0.85, 0.77])
SPREADS = np.array([8e-3, 1.5e-3, 1e-4, 1.2e-3, 8e-3])


def _analysis(names: list[str]) -> Analysis:
    """Conditions with 6, 7, … pairs (so that each box's n differs) of made-up layer distances."""
    rng = np.random.default_rng(0)
    conditions = [
        Condition(name, name.split("_")[0], 6 + k, np.zeros((6 + k, 2), np.int64))
        for k, name in enumerate(names)
    ]
    distances = {
        c.name: {
            metric: LEVELS + shift + SPREADS * rng.standard_normal((len(c.pairs), len(LEVELS)))
            for metric, shift in (("nnstd", 0.0), ("nnstd_pm", 0.03))
        }
        for c in conditions
    }
    return Analysis(
        settings=Settings(("digits",)),
        layer_names=LAYER_NAMES,
        tickets=[],
        conditions=conditions,
        distances=distances,
        tie_spreads={},
        stats=pd.DataFrame(),
        pattern_groups={},
        patterns={},
        notes=[],
    )


def _width(axes) -> float:
    low, high = axes.get_xlim()
    return high - low


def _holds(axes, values: np.ndarray) -> bool:
    low, high = axes.get_xlim()
    return low <= values.min() and values.max() <= high


def _texts(figure) -> list[str]:
    texts = [t.get_text() for t in figure.texts]
    texts += [t.get_text() for axes in figure.axes for t in axes.texts]
    texts += [axes.get_title() for axes in figure.axes]
    texts += [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    texts += [f.get_suptitle() for f in (figure, *figure.subfigs)]
    return texts


def _check_condition_labels(axes, analysis: Analysis) -> None:
    """One label per condition, horizontal, readable, with its number of pairs; the first condition on top."""
    labels = axes.get_yticklabels()
    assert [label.get_text() for label in labels] == [
        f"{c.name}  ({len(c.pairs)} pairs)" for c in analysis.conditions
    ]
    assert all(label.get_rotation() == 0 and label.get_fontsize() >= 8 for label in labels)
    bottom, top = axes.get_ylim()
    assert bottom > top  # inverted: position 0 (the first condition) at the top


def _check_legend(figure) -> None:
    legend = " | ".join(t.get_text() for legend in figure.legends for t in legend.get_texts())
    for mark in ("median", "mean", "quartiles", "whiskers", "beyond the whiskers", "random's median"):
        assert mark in legend


@pytest.mark.parametrize("names", [THREE, ONE], ids=["three datasets", "one dataset"])
def test_fig1_panels_span_the_same_distance_and_label_everything(names):
    analysis = _analysis(names)
    figure = figures.distance_distributions(analysis)
    panels = figure.axes
    assert len(panels) == 2
    assert _width(panels[0]) == pytest.approx(_width(panels[1]))
    for axes, metric in zip(panels, ("nnstd", "nnstd_pm"), strict=True):
        values = np.concatenate([d[metric].mean(axis=1) for d in analysis.distances.values()])
        assert _holds(axes, values)
        assert "distance" in axes.get_xlabel() and axes.get_title()
        assert not axes.xaxis.get_major_formatter().get_useOffset()  # tick labels show whole values
    _check_condition_labels(panels[0], analysis)
    assert not any(label.get_visible() for label in panels[1].get_yticklabels() if label.get_text())
    _check_legend(figure)
    assert any("span" in text for text in _texts(figure))


@pytest.mark.parametrize("metric", ["nnstd", "nnstd_pm"])
def test_layer_figure_compares_layers_on_one_span_and_says_how_far_it_zooms(metric):
    analysis = _analysis(THREE)
    figure = figures.layer_distributions(analysis, metric)
    common, own = (row.axes for row in figure.subfigs)
    assert len(common) == len(own) == len(LAYER_NAMES)
    span = _width(common[0])
    for k, (shared, zoomed) in enumerate(zip(common, own, strict=True)):
        values = np.concatenate([d[metric][:, k] for d in analysis.distances.values()])
        assert _width(shared) == pytest.approx(span)  # one scale in the first row
        assert _holds(shared, values) and _holds(zoomed, values)
        assert shared.get_xlabel() and zoomed.get_xlabel()
        assert not zoomed.xaxis.get_major_formatter().get_useOffset()
        assert "span" in zoomed.get_title()
    dense1 = own[LAYER_NAMES.index("dense1")]
    assert _width(dense1) < span / 10  # its ~1e-4 spread is zoomed in the second row, and says so
    assert "zoomed ×" in dense1.get_title()
    _check_condition_labels(common[0], analysis)
    _check_condition_labels(own[0], analysis)
    _check_legend(figure)


@pytest.fixture(scope="module")
def groups():
    """Two groups unlike in size and sparsity: 3 tickets at the paper's rates and 1 half-pruned ticket."""
    rng = np.random.default_rng(0)
    shapes = {"conv1": conv2_shapes(channels=16)["conv1"]}
    half = dict.fromkeys(PAPER_PRUNED, 0.5)
    return {
        "random": kernel_patterns([random_signed(shapes, rng)[0] for _ in range(3)]),
        "WTs_digits": kernel_patterns([random_signed(shapes, rng, half)[0]]),
    }


def _images(figure) -> list:
    return [image for axes in figure.axes for image in axes.images]


def test_filter_figures_of_the_groups_share_their_scales(groups):
    made = {name: figures.filter_counts(p, name, groups.values()) for name, p in groups.items()}
    histograms = {name: [a for a in f.axes if a.containers][0] for name, f in made.items()}
    assert len({h.get_ylim() for h in histograms.values()}) == 1
    assert {h.get_ylim()[0] for h in histograms.values()} == {0}
    for name, histogram in histograms.items():
        bars = [bar.get_height() for bar in histogram.containers[0]]
        assert max(bars) <= histogram.get_ylim()[1]
        assert sum(bars) == pytest.approx(100)  # shares of the group's filters, comparable across groups
        assert histogram.get_xlabel() and histogram.get_ylabel()
        titles = [a.get_title() for a in made[name].axes if a.images]
        assert titles == ["in-channel 0", "in-channel 1", "in-channel 2"]
    scales = {(i.norm.vmin, i.norm.vmax) for f in made.values() for i in _images(f)}
    assert len(scales) == 1 and next(iter(scales))[0] == 0
    assert all(i.get_array().max() <= i.norm.vmax for f in made.values() for i in _images(f))
    colourbars = [a for f in made.values() for a in f.axes if a.get_label() == "<colorbar>"]
    assert len(colourbars) == 2 and all(a.get_ylabel() for a in colourbars)


def test_filter_figure_alone_is_on_its_own_scale(groups):
    alone = figures.filter_counts(groups["random"], "random")
    shared = figures.filter_counts(groups["random"], "random", groups.values())
    assert _images(alone)[0].norm.vmax < _images(shared)[0].norm.vmax  # half-pruned WTs keeps more


def test_cooccurrence_colour_scales_start_at_zero_and_are_shared_by_groups_and_signs(groups):
    made = [
        figures.cooccurrence(p, name, sign, groups.values()) for name, p in groups.items() for sign in "+−"
    ]
    scales = {(i.norm.vmin, i.norm.vmax) for f in made for i in _images(f)}
    assert len(scales) == 1 and next(iter(scales))[0] == 0
    assert all(np.nanmax(i.get_array()) <= i.norm.vmax for f in made for i in _images(f))
    assert all(len(_images(f)) == 9 for f in made)  # one map per reference position
    texts = _texts(made[0])
    assert any("kernels with + here" in t for t in texts) and any("independent" in t for t in texts)


def test_an_empty_pattern_row_says_none():
    kernels = np.zeros((2, 1, 3, 3), np.int8)
    kernels[0, 0, 0, :2] = [1, -1]  # two kernels: one with n = 2, one with none left
    patterns = kernel_patterns([kernels])
    assert patterns.top_patterns[2] and not patterns.top_patterns[7]
    texts = _texts(figures.top_patterns(patterns, "random"))
    nones = [t for t in texts if t.startswith("none")]
    assert len(nones) == len(patterns.top_patterns) - 1  # n = 3..7
    assert any(t.startswith("1 (100 %)") for t in texts)  # the one pattern: its count and share


def test_top_patterns_shows_nine_per_row_with_counts(groups):
    patterns = groups["random"]
    figure = figures.top_patterns(patterns, "random")
    counts = [t for t in _texts(figure) if t.endswith("%)")]
    assert len(counts) == sum(len(top) for top in patterns.top_patterns.values())
    assert max(len(top) for top in patterns.top_patterns.values()) == 9
    assert not any(t.startswith("none") for t in _texts(figure))
    legend = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert legend == ["+", "−", "pruned"]
