"""Fig. 1: each metric's distribution per condition; Fig. A.2 / A.4: the same per layer for NNSTD / NNSTD±.

One horizontal box per condition, filled by category, labelled once per row of panels with its number of
pairs, random's median dashed, a legend for the marks; panels that are compared span the same distance
(Fig. 1; the first row of A.2 / A.4, each layer centred on its own level, since layers differ in level); the
second row of A.2 / A.4 zooms each layer to its own range and says by how much; tick labels show whole
values (no offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from analysis.pipeline import Analysis
from analysis.reporting.figures.canvas import new_figure, two_digits
from analysis.reporting.tables import METRIC_TITLES
from analysis.statistics.conditions import RANDOM_CONDITION

CATEGORY_COLOURS = {
    "random": "#d9d9d9",
    "WTs": "#a6dba0",
    "mixed": "#fdc086",
    "between": "#beaed4",
    "between_same_init": "#f0b6d5",
}
_MEDIAN = {"color": "black", "linewidth": 1.8}
_MEAN = {"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5}
_FLIER = {"marker": "o", "markerfacecolor": "none", "markeredgecolor": "0.3", "markersize": 4}
_REFERENCE = {"color": "0.35", "linestyle": "--", "linewidth": 1}
LABEL_SIZE = 9
_PAD = 0.06  # of a panel's span, left and right of the data
_MIN_SPAN = 1e-3  # the span of a panel whose values are all equal


def _span_text(span: float) -> str:
    return f"{span:.2g}"


def _values(analysis: Analysis, metric: str, layer: int | None) -> list[np.ndarray]:
    """Per condition: the pairs' metric (layer None: the mean over layers) or one layer's distance."""
    per_layer = [analysis.distances[c.name][metric] for c in analysis.conditions]
    return [d.mean(axis=1) if layer is None else d[:, layer] for d in per_layer]


def _extent(values: Sequence[np.ndarray]) -> tuple[float, float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.zeros(0)])
    return (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)


def _common_span(extents: Iterable[tuple[float, float]]) -> float:
    """The span every compared panel shows: the widest data range, padded."""
    widest = max(high - low for low, high in extents)
    return (widest if widest > 0 else _MIN_SPAN) * (1 + 2 * _PAD)


def _centred(extent: tuple[float, float], span: float) -> tuple[float, float]:
    """Limits `span` wide around the data, kept inside [0, 1] (distances) where the span allows."""
    low, high = extent
    start = min(max((low + high - span) / 2, 0.0), 1.0 - span)
    start = max(min(start, low), high - span)  # the data stay inside, whatever they are
    return start, start + span


def _own(extent: tuple[float, float]) -> tuple[float, float]:
    low, high = extent
    pad = (high - low) * _PAD if high > low else _MIN_SPAN / 2
    return low - pad, high + pad


def _boxes(axes, analysis: Analysis, values: list[np.ndarray]) -> None:
    """One horizontal box per condition, the first on top, filled by category; random's median dashed."""
    conditions = analysis.conditions
    positions = np.arange(len(values))
    parts = axes.boxplot(
        values,
        positions=positions,
        orientation="horizontal",
        widths=0.6,
        patch_artist=True,
        showmeans=True,
        medianprops=_MEDIAN,
        meanprops=_MEAN,
        flierprops=_FLIER,
        manage_ticks=False,
    )
    for box, condition in zip(parts["boxes"], conditions, strict=True):
        box.set_facecolor(CATEGORY_COLOURS.get(condition.category, "white"))
    for k in range(1, len(conditions)):
        if conditions[k].category != conditions[k - 1].category:
            axes.axhline(k - 0.5, color="0.8", linewidth=0.6)
    names = [c.name for c in conditions]
    if RANDOM_CONDITION in names:
        axes.axvline(float(np.median(values[names.index(RANDOM_CONDITION)])), **_REFERENCE, zorder=0)
    axes.set_yticks(
        positions, [f"{c.name}  ({len(v)} pairs)" for c, v in zip(conditions, values, strict=True)]
    )
    axes.tick_params(axis="y", labelsize=LABEL_SIZE)
    axes.set_ylim(len(values) - 0.5, -0.5)
    axes.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
    axes.xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes.grid(axis="x", color="0.92", linewidth=0.6)
    axes.set_axisbelow(True)


def _box_legend(figure: Figure, analysis: Analysis) -> None:
    categories = list(dict.fromkeys(c.category for c in analysis.conditions))
    handles = [
        Patch(facecolor="white", edgecolor="black", label="box: middle half of the pairs (quartiles)"),
        Line2D([], [], **_MEDIAN, label="median"),
        Line2D([], [], linestyle="none", **_MEAN, label="mean"),
        Line2D([], [], color="black", linewidth=1, label="whiskers: furthest pair within 1.5 box lengths"),
        Line2D([], [], linestyle="none", **_FLIER, label="a pair beyond the whiskers"),
        *([Line2D([], [], **_REFERENCE, label="random's median")] if RANDOM_CONDITION in categories else []),
        *[Patch(facecolor=CATEGORY_COLOURS.get(c, "white"), edgecolor="black", label=c) for c in categories],
    ]
    columns = -(-(len(handles) - len(categories)) // 2) + -(-len(categories) // 2)  # marks, then categories
    figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize=8, frameon=False)


def _rows_height(analysis: Analysis) -> float:
    return 0.3 * len(analysis.conditions) + 1.5


def distance_distributions(analysis: Analysis) -> Figure:
    """Fig. 1: NNSTD and NNSTD± per condition, both panels spanning the same distance."""
    metrics = list(METRIC_TITLES)
    values = {metric: _values(analysis, metric, None) for metric in metrics}
    extents = {metric: _extent(v) for metric, v in values.items()}
    span = _common_span(extents.values())
    figure = new_figure(12, _rows_height(analysis) + 1.2)
    panels = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for k, (axes, metric) in enumerate(zip(panels, metrics, strict=True)):
        _boxes(axes, analysis, values[metric])
        axes.set_xlim(*_centred(extents[metric], span))
        axes.set_title(METRIC_TITLES[metric])
        axes.set_xlabel(f"{METRIC_TITLES[metric]} of a pair (distance: 0 identical, 1 disjoint)")
        if k:
            axes.tick_params(axis="y", labelleft=False)
    figure.suptitle(
        f"Distance between the two tickets of each pair, per condition — both panels span "
        f"{_span_text(span)} of distance",
        fontsize=11,
    )
    _box_legend(figure, analysis)
    return figure


def _layer_row(row: SubFigure, analysis: Analysis, metric: str, common: bool) -> None:
    """One panel per layer: all spanning the same distance (`common`), or each its own range."""
    layers = analysis.layer_names
    values = [_values(analysis, metric, k) for k in range(len(layers))]
    extents = [_extent(v) for v in values]
    span = _common_span(extents)
    panels = row.subplots(1, len(layers), sharey=True, squeeze=False)[0]
    for k, axes in enumerate(panels):
        _boxes(axes, analysis, values[k])
        limits = _centred(extents[k], span) if common else _own(extents[k])
        axes.set_xlim(*limits)
        own = limits[1] - limits[0]
        if common:
            axes.set_title(layers[k], fontsize=10)
        else:
            zoom = "as above" if span / own < 1.05 else f"zoomed ×{two_digits(span / own)}"
            axes.set_title(f"{layers[k]}: span {_span_text(own)}, {zoom}", fontsize=9)
        axes.set_xlabel(f"{layers[k]} distance ({'NED±' if metric == 'nnstd_pm' else 'NED'}, 0–1)")
        if k:
            axes.tick_params(axis="y", labelleft=False)
    if common:
        row.suptitle(
            f"{METRIC_TITLES[metric]} per layer, on one scale: every panel spans {_span_text(span)} of "
            "distance, centred on its layer (layers differ in level)",
            fontsize=11,
        )
    else:
        row.suptitle(
            "The same, each layer zoomed to its own range (its span and zoom against the row above in its "
            "title): compare conditions within a layer here, magnitudes across layers above",
            fontsize=11,
        )


def layer_distributions(analysis: Analysis, metric: str) -> Figure:
    """Fig. A.2 (NNSTD) / A.4 (NNSTD±): each layer's distance per condition; first row on one common span,
    second row each layer on its own range."""
    layers = analysis.layer_names
    height = _rows_height(analysis)
    figure = new_figure(2.4 + 3.1 * len(layers), 2 * height + 1.2)
    common, own = figure.subfigures(2, 1)
    _layer_row(common, analysis, metric, common=True)
    _layer_row(own, analysis, metric, common=False)
    _box_legend(figure, analysis)
    return figure
