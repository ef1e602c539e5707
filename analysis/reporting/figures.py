"""The analysis's figures (matplotlib, Agg, no pyplot state): distance distributions and kernel patterns.

Fig. 1: each metric's distribution per condition; Fig. A.2 / A.4: the same per layer for NNSTD / NNSTD±;
Fig. 2: remaining weights per filter (histogram) and per filter position; Fig. 3 / 4: co-occurrence of a
positive reference weight with positive / negative weights; Fig. 5, 6, A.5–A.8: the most frequent signed
kernels per number of remaining weights, red = +, blue = −, with their counts.
Figures are drawn on the Agg canvas without pyplot, so no global state or display is involved.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from analysis.patterns import SIDE, Patterns
from analysis.pipeline import Analysis
from analysis.reporting.tables import METRIC_TITLES

_SIGNS = ListedColormap(["tab:blue", "white", "tab:red"])  # −1, 0, +1


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


def _boxplots(axes, analysis: Analysis, metric: str, layer: int | None) -> None:
    """One box per condition: the pairs' metric (layer None) or one layer's distance."""
    names = [c.name for c in analysis.conditions]
    per_layer = [analysis.distances[name][metric] for name in names]
    values = [d.mean(axis=1) if layer is None else d[:, layer] for d in per_layer]
    axes.boxplot(values, showmeans=True)
    axes.set_xticks(range(1, len(names) + 1), names, rotation=60, ha="right", fontsize=8)


def distance_distributions(analysis: Analysis) -> Figure:
    """Fig. 1: NNSTD and NNSTD± per condition."""
    figure = _figure(12, 5)
    for axes, metric in zip(figure.subplots(1, 2, squeeze=False)[0], METRIC_TITLES, strict=True):
        _boxplots(axes, analysis, metric, None)
        axes.set_title(METRIC_TITLES[metric])
        axes.set_ylabel("distance")
    return figure


def layer_distributions(analysis: Analysis, metric: str) -> Figure:
    """Fig. A.2 (NNSTD) / A.4 (NNSTD±): each layer's distance per condition."""
    layers = analysis.layer_names
    figure = _figure(3.6 * len(layers), 5)
    for k, axes in enumerate(figure.subplots(1, len(layers), squeeze=False)[0]):
        _boxplots(axes, analysis, metric, k)
        axes.set_title(f"{METRIC_TITLES[metric]} — {layers[k]}")
    return figure


def filter_counts(patterns: Patterns, group: str) -> Figure:
    """Fig. 2: filters per number of remaining weights; remaining weights per filter position (one 3×3 map
    per in-channel)."""
    figure = _figure(11, 3.8)
    histogram, positions = figure.subplots(1, 2, width_ratios=[1.4, 1])
    histogram.bar(np.arange(len(patterns.filter_histogram)), patterns.filter_histogram)
    histogram.set_xlabel("remaining weights per filter")
    histogram.set_ylabel("filters")
    histogram.set_title(f"{group}: filters (SD {patterns.filter_count_std:.2f})", fontsize=10)
    image = positions.imshow(
        _mosaic(list(patterns.position_counts), len(patterns.position_counts)), cmap="viridis"
    )
    positions.set_title(f"per position, in-channels 0–2 (SD {patterns.position_count_std:.1f})", fontsize=10)
    positions.set_axis_off()
    figure.colorbar(image, ax=positions, label="remaining weights", shrink=0.8)
    return figure


def cooccurrence(patterns: Patterns, group: str, sign: str) -> Figure:
    """Fig. 3 (sign '+') / 4 (sign '−'): one 3×3 map per reference position (grey, laid out as in the kernel):
    kernels with a positive weight there and a weight of `sign` at each other position."""
    counts = (patterns.cooccurrence_pos if sign == "+" else patterns.cooccurrence_neg).astype(np.float64)
    np.fill_diagonal(counts, np.nan)
    colours = matplotlib.colormaps["Reds" if sign == "+" else "Blues"].with_extremes(bad="white")
    figure = _figure(6.5, 6)
    axes = figure.subplots()
    blocks = [counts[reference].reshape(SIDE, SIDE) for reference in range(SIDE * SIDE)]
    image = axes.imshow(_mosaic(blocks, SIDE), cmap=colours)
    for reference in range(SIDE * SIDE):
        y, x = divmod(reference, SIDE)
        corner = (x * (SIDE + 1) + x - 0.5, y * (SIDE + 1) + y - 0.5)
        axes.add_patch(Rectangle(corner, 1, 1, color="lightgrey"))
    axes.set_axis_off()
    axes.set_title(f"{group}: + at the grey position, {sign} at the others", fontsize=10)
    figure.colorbar(image, ax=axes, label="kernels", shrink=0.8)
    return figure


def top_patterns(patterns: Patterns, group: str) -> Figure:
    """Fig. 5, 6, A.5–A.8: the most frequent signed kernels, one row per number n of remaining weights."""
    rows = list(patterns.top_patterns.items())
    columns = max([len(top) for _, top in rows] + [1])
    blocks = [
        top[rank][0] if rank < len(top) else np.full((SIDE, SIDE), np.nan)
        for _, top in rows
        for rank in range(columns)
    ]
    figure = _figure(1.2 * columns + 1, 1.3 * len(rows) + 0.6)
    axes = figure.subplots()
    axes.imshow(_mosaic(blocks, columns), cmap=_SIGNS, vmin=-1, vmax=1)
    for row, (n, top) in enumerate(rows):
        axes.text(-1, row * (SIDE + 1) + 1, f"n={n}", ha="right", va="center", fontsize=9)
        for rank, (_, count) in enumerate(top):
            axes.add_patch(
                Rectangle((rank * (SIDE + 1) - 0.5, row * (SIDE + 1) - 0.5), SIDE, SIDE, fill=False, lw=0.5)
            )
            axes.text(
                rank * (SIDE + 1) + 1,
                row * (SIDE + 1) + SIDE - 0.3,
                str(count),
                ha="center",
                va="top",
                fontsize=7,
            )
    axes.set_xlim(-2.5, columns * (SIDE + 1) - 0.4)
    axes.set_axis_off()
    axes.set_title(f"{group}: most frequent signed 3×3 kernels with their counts (red +, blue −)", fontsize=9)
    return figure
