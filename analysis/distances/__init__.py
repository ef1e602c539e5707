"""Distances between sparse networks: the incoming-edge sets of each unit (`incoming`), NED and the
matching cost (`ned`), one layer's optimal matching and its ties (`matching`), and NNSTD / NNSTD± layer by
layer (`nnstd`). Imports nothing else of `analysis` but its thread pool (`analysis.parallel`)."""
