"""The figures' canvas: a constrained-layout `Figure` on the Agg canvas, without pyplot (no global state, no
display), and how a number is written on it."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def two_digits(value: float) -> str:
    """Two significant digits, whole numbers from 10 up: 0.62, 8.7, 14, 130."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
