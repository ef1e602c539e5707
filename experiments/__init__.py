"""Entry points, what the Makefile calls: `python -m experiments.train` (`make train`), `python -m
experiments.server` (`make server`) and `python -m experiments.launch` (passes `*_ARGS` safely); `options`
derives command-line options from the typed hyperparameter dataclasses. Imports any package of `lottery`."""
