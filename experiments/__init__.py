"""Entry points, what the Makefile calls: `python -m experiments.train` (`make train`), `python -m
experiments.server` (`make server`), `python -m experiments.launch` (passes `*_ARGS` safely) and `python -m
experiments.make_variables` (refuses a misspelt make variable); `options` derives command-line options from
the typed hyperparameter dataclasses. Imports any package of `lottery`."""
