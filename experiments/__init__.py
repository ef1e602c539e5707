"""Entry points, what the Makefile calls: `python -m experiments.train` (`make train`), `python -m
experiments.server` (`make server`), `experiments.ui` (`make ui`), `experiments.postgres` (`make postgres`),
`python -m experiments.launch` (passes `*_ARGS` safely) and `python -m experiments.make_variables` (refuses a
misspelt make variable); their options derive from dataclasses (`lottery.options`); `preflight` checks
what `server` and `ui` serve (the store, the artifacts folder, the port), `serving` runs `mlflow server`
quietly for both (the options they share, its variables), `security` chooses the hosts and origins it
accepts. Imports any package of `lottery`."""
