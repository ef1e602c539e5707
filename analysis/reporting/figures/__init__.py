"""The analysis's figures (matplotlib): distance distributions (`distances`: Fig. 1, A.2, A.4) and kernel
patterns (`patterns`: Fig. 2–6, A.5–A.8), each module saying what a reader can compare and on which scale.
Every figure is drawn on the Agg canvas without pyplot (`canvas`), so no global state or display is involved.
"""

from analysis.reporting.figures.distances import distance_distributions, layer_distributions
from analysis.reporting.figures.patterns import cooccurrence, filter_counts, top_patterns

__all__ = ["cooccurrence", "distance_distributions", "filter_counts", "layer_distributions", "top_patterns"]
