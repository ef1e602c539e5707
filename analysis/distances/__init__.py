"""Distances between sparse networks: the incoming-edge sets of each unit (`incoming`), NED and the
matching cost (`ned`), and NNSTD / NNSTD± layer by layer (`nnstd`). Imports nothing else of `analysis`."""
