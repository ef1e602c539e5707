"""Lottery tickets by iterative magnitude pruning, and their signed structure, tracked in MLflow."""
