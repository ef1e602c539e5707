"""Run every benchmark in turn: `python -m bench` (or `make bench`); `python -m bench NAME…` runs some."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("train_overhead", "data_loading", "analysis_speed", "executors", "calibration", "load")


def main(argv: list[str]) -> None:
    for name in argv or BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
