"""Benchmarks (`make bench`): every figure is a ratio of two ways measured side by side in one run. The GPU
benchmark (`make bench-gpu`, `bench.gpu` and its `gpu_*` modules) runs only where CUDA is."""
