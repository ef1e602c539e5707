"""Fig. 2: remaining weights per filter (histogram) and per filter position; Fig. 3 / 4: co-occurrence of a
positive reference weight with positive / negative weights; Fig. 5, 6, A.5–A.8: the most frequent signed
kernels per number of remaining weights, red = +, blue = −, with their counts.

Shares, not raw counts (groups may hold different numbers of tickets): % of filters (Fig. 2), % of the
kernels positive at the reference (Fig. 3 / 4), % of the row's kernels (top patterns), each next to what
independent weights would give; colour and count scales start at 0; passing every group as `scale_over`
(Fig. 2–4) puts the groups' figures on one scale (Fig. 3 and 4 share it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from math import comb

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from scipy.stats import binom

from analysis.patterns import SIDE, Patterns
from analysis.reporting.figures.canvas import new_figure, two_digits

_SIGNS = ListedColormap(["tab:blue", "white", "tab:red"])  # −1, 0, +1


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

    figure = new_figure(12, 3.9)
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
    figure = new_figure(7, 7.2)
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


def _row_label(axes, row: int, n: int, in_row: int, empty: bool) -> None:
    """Left of row `row`: its number n of remaining weights, its kernels and the uniform share; "none" across
    an `empty` row."""
    axes.text(
        -1,
        row * (SIDE + 1) + 1,
        f"n = {n}: {in_row} kernels\nif all patterns were\nequally likely: {_uniform_share(n):.2g} %",
        ha="right",
        va="center",
        fontsize=8,
    )
    if empty:
        axes.text(
            -0.4,
            row * (SIDE + 1) + 1,
            f"none — no kernel with {n} remaining weights",
            ha="left",
            va="center",
            fontsize=9,
            style="italic",
        )


def _pattern_frame(axes, row: int, rank: int, count: int, in_row: int) -> None:
    """The grid and frame of the pattern at (`row`, `rank`), its `count` and share of `in_row` beneath."""
    left, upper = rank * (SIDE + 1) - 0.5, row * (SIDE + 1) - 0.5
    inner = np.arange(1, SIDE)
    axes.vlines(left + inner, upper, upper + SIDE, color="0.8", linewidth=0.4)
    axes.hlines(upper + inner, left, left + SIDE, color="0.8", linewidth=0.4)
    axes.add_patch(Rectangle((left, upper), SIDE, SIDE, fill=False, lw=0.6))
    share = 100 * count / in_row if in_row else float("nan")
    axes.text(
        rank * (SIDE + 1) + 1,
        row * (SIDE + 1) + SIDE - 0.35,
        f"{count} ({two_digits(share)} %)",
        ha="center",
        va="top",
        fontsize=7,
    )


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
    figure = new_figure(1.15 * columns + 2.2, 1.1 * len(rows) + 1.2)
    axes = figure.subplots()
    colours = _SIGNS.with_extremes(bad="white")
    axes.imshow(_mosaic(blocks, columns), cmap=colours, vmin=-1, vmax=1)
    for row, (n, top) in enumerate(rows):
        in_row = int(patterns.kernels_with[n]) if n < len(patterns.kernels_with) else 0
        _row_label(axes, row, n, in_row, empty=not top)
        for rank, (_, count) in enumerate(top):
            _pattern_frame(axes, row, rank, count, in_row)
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
