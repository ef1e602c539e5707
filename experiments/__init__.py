"""Entry points: `python -m experiments.train` (`make train`) and `python -m experiments.server`
(`make server`)."""
