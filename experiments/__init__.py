"""Entry points, what the Makefile calls: `python -m experiments.train` (`make train`), `python -m
experiments.server` (`make server`), `experiments.ui` (`make ui`), `experiments.postgres` (`make postgres`),
`python -m experiments.launch` (passes `*_ARGS` safely) and `python -m experiments.make_variables` (refuses a
misspelt make variable); their options derive from dataclasses (`lottery.options`); `serving` runs `mlflow
server` quietly for `server` and `ui`, `security` chooses the hosts and origins it accepts. Imports any
package of `lottery`."""
