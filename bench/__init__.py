"""Benchmarks (`make bench`): every figure is a ratio of two ways measured side by side in one run."""
