"""The analysis's figures (matplotlib, Agg, no pyplot state): distance distributions and kernel patterns.

Fig. 1: each metric's distribution per condition; Fig. A.2 / A.4: the same per layer for NNSTD / NNSTD±;
Fig. 2: remaining weights per filter (histogram) and per filter position; Fig. 3 / 4: co-occurrence of a
positive reference weight with positive / negative weights; Fig. 5, 6, A.5–A.8: the most frequent signed
kernels per number of remaining weights, red = +, blue = −, with their counts.

What a reader can compare, and on which scale:
- distances: one horizontal box per condition, filled by category, labelled once per row of panels with its
  number of pairs, random's median dashed, a legend for the marks; panels that are compared span the same
  distance (Fig. 1; the first row of A.2 / A.4, each layer centred on its own level, since layers differ in
  level); the second row of A.2 / A.4 zooms each layer to its own range and says by how much; tick labels
  show whole values (no offset);
- kernel patterns: shares, not raw counts (groups may hold different numbers of tickets): % of filters
  (Fig. 2), % of the kernels positive at the reference (Fig. 3 / 4), % of the row's kernels (top patterns),
  each next to what independent weights would give; colour and count scales start at 0; passing every group
  as `scale_over` (Fig. 2–4) puts the groups' figures on one scale (Fig. 3 and 4 share it too).
Figures are drawn on the Agg canvas without pyplot, so no global state or display is involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import comb

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from scipy.stats import binom

from analysis.patterns import SIDE, Patterns
from analysis.pipeline import Analysis
from analysis.reporting.tables import METRIC_TITLES
from analysis.statistics.conditions import RANDOM_CONDITION

_SIGNS = ListedColormap(["tab:blue", "white", "tab:red"])  # −1, 0, +1
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


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _mosaic(blocks: list[np.ndarray], columns: int) -> np.ndarray:
    """Equal-sized 2-D blocks tiled row-major, `columns` per row, one NaN row/column between blocks."""
    height, width = blocks[0].shape
    rows = -(-len(blocks) // columns)
    canvas = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for k, block in enumerate(blocks):
        y, x = divmod(k, columns)
        canvas[y * (height + 1) : y * (height + 1) + height, x * (width + 1) : x * (width + 1) + width] = (
            block
        )
    return canvas


def _span_text(span: float) -> str:
    return f"{span:.2g}"


def _two_digits(value: float) -> str:
    """Two significant digits, whole numbers from 10 up: 0.62, 8.7, 14, 130."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


# --- distances -----------------------------------------------------------------------------------------


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
    figure = _figure(12, _rows_height(analysis) + 1.2)
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
            zoom = "as above" if span / own < 1.05 else f"zoomed ×{_two_digits(span / own)}"
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
    figure = _figure(2.4 + 3.1 * len(layers), 2 * height + 1.2)
    common, own = figure.subfigures(2, 1)
    _layer_row(common, analysis, metric, common=True)
    _layer_row(own, analysis, metric, common=False)
    _box_legend(figure, analysis)
    return figure


# --- kernel patterns -----------------------------------------------------------------------------------


def _tickets(patterns: Patterns) -> str:
    return f"{patterns.tickets} ticket{'' if patterns.tickets == 1 else 's'}"


def _groups(patterns: Patterns, scale_over: Iterable[Patterns]) -> list[Patterns]:
    return [patterns, *scale_over]


def _filter_shares(patterns: Patterns) -> np.ndarray:
    """% of the group's filters with n = 0..27 remaining weights."""
    histogram = patterns.filter_histogram.astype(np.float64)
    return 100 * histogram / max(histogram.sum(), 1)


def _keep_rate(patterns: Patterns) -> tuple[int, float]:
    """(weights per filter, the fraction of them the group's filters keep)."""
    histogram = patterns.filter_histogram
    size = len(histogram) - 1
    return size, float(np.arange(size + 1) @ histogram) / max(size * int(histogram.sum()), 1)


def _binomial_shares(patterns: Patterns) -> np.ndarray:
    """% of filters with n remaining weights if each weight stayed independently at the group's rate."""
    size, rate = _keep_rate(patterns)
    return 100 * binom.pmf(np.arange(size + 1), size, rate)


def _position_shares(patterns: Patterns) -> np.ndarray:
    """% of the group's filters that keep the weight at each (in-channel, row, column)."""
    return 100 * patterns.position_counts / max(int(patterns.filter_histogram.sum()), 1)


def _annotate(axes, values: np.ndarray, image, digits: int = 1) -> None:
    """Each cell's value written on it, dark or light against its colour."""
    for (y, x), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        axes.text(x, y, f"{value:.{digits}f}", ha="center", va="center", fontsize=7, color=colour)


def filter_counts(patterns: Patterns, group: str, scale_over: Iterable[Patterns] = ()) -> Figure:
    """Fig. 2: % of filters per number of remaining weights, against independent weights (binomial); % of
    filters keeping each filter position, one 3×3 map per in-channel. The groups in `scale_over` share the
    histogram's y-range and the maps' colour scale (0 to the largest share)."""
    groups = _groups(patterns, scale_over)
    top = max(max(_filter_shares(g).max(), _binomial_shares(g).max()) for g in groups)
    brightest = max(float(_position_shares(g).max()) for g in groups)
    shares, expected = _filter_shares(patterns), _binomial_shares(patterns)
    size, rate = _keep_rate(patterns)
    filters = int(patterns.filter_histogram.sum())

    figure = _figure(12, 3.9)
    left, right = figure.subfigures(1, 2, width_ratios=[1.25, 1])
    histogram = left.subplots()
    histogram.bar(np.arange(size + 1), shares, color="tab:gray", label="filters of the group")
    histogram.plot(
        np.arange(size + 1),
        expected,
        "o",
        color="black",
        markersize=3,
        label="if weights stayed independently (binomial)",
    )
    histogram.set_xlim(-0.7, size + 0.7)
    histogram.set_ylim(0, top * 1.08)
    histogram.set_xticks(range(0, size + 1, 3))
    histogram.set_xlabel(f"remaining weights per filter (of {size})")
    histogram.set_ylabel("% of the group's filters")
    histogram.legend(fontsize=8, frameon=False)
    histogram.set_title(
        f"{group}: {_tickets(patterns)}, {filters} filters — SD {patterns.filter_count_std:.2f} "
        f"weights per filter (independent: {np.sqrt(size * rate * (1 - rate)):.2f})",
        fontsize=10,
    )

    positions = _position_shares(patterns)
    maps = right.subplots(1, len(positions), squeeze=False)[0]
    norm = Normalize(0, brightest if brightest > 0 else 1)
    for channel, (axes, block) in enumerate(zip(maps, positions, strict=True)):
        image = axes.imshow(block, cmap="viridis", norm=norm)
        _annotate(axes, block, image)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"in-channel {channel}", fontsize=9)
    right.colorbar(image, ax=list(maps), label="% of filters keeping the weight", shrink=0.7)
    right.suptitle(
        f"% of filters keeping each position — SD {positions.std():.2f} points "
        f"({patterns.position_count_std:.1f} weights)",
        fontsize=10,
    )
    return figure


def _cooccurrence_shares(patterns: Patterns, sign: str) -> np.ndarray:
    """[r, p]: % of the kernels positive at r that have a weight of `sign` at p; NaN on the diagonal and
    where no kernel is positive at r."""
    counts = (patterns.cooccurrence_pos if sign == "+" else patterns.cooccurrence_neg).astype(np.float64)
    base = np.diag(patterns.cooccurrence_pos).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = 100 * counts / base[:, None]
    shares[base == 0] = np.nan
    np.fill_diagonal(shares, np.nan)
    return shares


def _sign_rate(patterns: Patterns, sign: str) -> float:
    """% of all kernel positions (of all kernels) holding a weight of `sign`: the co-occurrence share
    if positions were independent."""
    positive = float(np.trace(patterns.cooccurrence_pos))
    kept = float(patterns.position_counts.sum())
    slots = float(patterns.kernels_with.sum()) * SIDE * SIDE
    return 100 * (positive if sign == "+" else kept - positive) / slots if slots else float("nan")


def cooccurrence(patterns: Patterns, group: str, sign: str, scale_over: Iterable[Patterns] = ()) -> Figure:
    """Fig. 3 (sign '+') / 4 (sign '−'): one 3×3 map per reference position (grey, laid out as in the kernel):
    of the kernels with a positive weight there, the % with a weight of `sign` at each other position. The
    colour scale runs from 0 to the largest share over both signs of the groups in `scale_over`."""
    groups = _groups(patterns, scale_over)
    every = [_cooccurrence_shares(g, s) for g in groups for s in "+−"]
    highest = max((float(np.nanmax(s)) for s in every if np.isfinite(s).any()), default=1.0)
    shares = _cooccurrence_shares(patterns, sign)
    bases = np.diag(patterns.cooccurrence_pos)
    colours = matplotlib.colormaps["Reds" if sign == "+" else "Blues"].with_extremes(bad="white")
    norm = Normalize(0, highest if highest > 0 else 1)
    figure = _figure(7, 7.2)
    panels = figure.subplots(SIDE, SIDE)
    for reference, axes in enumerate(panels.ravel()):
        block = shares[reference].reshape(SIDE, SIDE)
        image = axes.imshow(block, cmap=colours, norm=norm)
        _annotate(axes, block, image)
        y, x = divmod(reference, SIDE)
        axes.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, color="lightgrey"))
        axes.text(x, y, "+", ha="center", va="center", fontsize=10)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"{int(bases[reference])} kernels with + here", fontsize=8)
    kernels = int(patterns.kernels_with.sum())
    figure.colorbar(image, ax=panels, label=f"% of those kernels with {sign} at the position", shrink=0.6)
    figure.suptitle(
        f"{group}: kernels with + at the grey position — % with {sign} at each other position\n"
        f"{_tickets(patterns)}, {kernels} kernels; if positions were independent: "
        f"{_sign_rate(patterns, sign):.1f} % everywhere",
        fontsize=10,
    )
    return figure


def _uniform_share(n: int) -> float:
    """% of the kernels with n remaining weights that each signed pattern gets if all are equally likely."""
    return 100 / (comb(SIDE * SIDE, n) * 2**n)


def top_patterns(patterns: Patterns, group: str) -> Figure:
    """Fig. 5, 6, A.5–A.8: the most frequent signed kernels, one row per number n of remaining weights, each
    with its count and its share of the row's kernels; "none" where no kernel has n remaining weights."""
    rows = list(patterns.top_patterns.items())
    columns = max([len(top) for _, top in rows] + [1])
    blocks = [
        top[rank][0] if rank < len(top) else np.full((SIDE, SIDE), np.nan)
        for _, top in rows
        for rank in range(columns)
    ]
    figure = _figure(1.15 * columns + 2.2, 1.1 * len(rows) + 1.2)
    axes = figure.subplots()
    colours = _SIGNS.with_extremes(bad="white")
    axes.imshow(_mosaic(blocks, columns), cmap=colours, vmin=-1, vmax=1)
    for row, (n, top) in enumerate(rows):
        in_row = int(patterns.kernels_with[n]) if n < len(patterns.kernels_with) else 0
        axes.text(
            -1,
            row * (SIDE + 1) + 1,
            f"n = {n}: {in_row} kernels\nif all patterns were\nequally likely: {_uniform_share(n):.2g} %",
            ha="right",
            va="center",
            fontsize=8,
        )
        if not top:
            axes.text(
                -0.4,
                row * (SIDE + 1) + 1,
                f"none — no kernel with {n} remaining weights",
                ha="left",
                va="center",
                fontsize=9,
                style="italic",
            )
        for rank, (_, count) in enumerate(top):
            left, upper = rank * (SIDE + 1) - 0.5, row * (SIDE + 1) - 0.5
            inner = np.arange(1, SIDE)
            axes.vlines(left + inner, upper, upper + SIDE, color="0.8", linewidth=0.4)
            axes.hlines(upper + inner, left, left + SIDE, color="0.8", linewidth=0.4)
            axes.add_patch(Rectangle((left, upper), SIDE, SIDE, fill=False, lw=0.6))
            share = 100 * count / in_row if in_row else float("nan")
            axes.text(
                rank * (SIDE + 1) + 1,
                row * (SIDE + 1) + SIDE - 0.35,
                f"{count} ({_two_digits(share)} %)",
                ha="center",
                va="top",
                fontsize=7,
            )
    axes.set_xlim(-5.5, columns * (SIDE + 1) - 0.4)
    axes.set_ylim(len(rows) * (SIDE + 1) - 0.2, -0.6)
    axes.set_axis_off()
    axes.set_title(
        f"{group}: the most frequent signed 3×3 kernels per number n of remaining weights "
        f"({_tickets(patterns)})\nunder each: kernels with that pattern (% of the row's kernels)",
        fontsize=9,
    )
    figure.legend(
        handles=[
            Patch(facecolor="tab:red", edgecolor="black", label="+"),
            Patch(facecolor="tab:blue", edgecolor="black", label="−"),
            Patch(facecolor="white", edgecolor="black", label="pruned"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
        frameon=False,
    )
    return figure
