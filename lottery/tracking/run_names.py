"""What a trial's MLflow run is called (README, "Tracking contract"): `digits/trial-00 · 034711b39a5c`.

The configuration's digest (`ExperimentConfig.config_id`, also the run's tag `lottery.config`) tells apart
two configurations of one experiment (one dataset) in the UI, where both would otherwise show
`digits/trial-00`; bare, not `config <digest>`, so that the UI's runs table, which cuts names at about 30
characters, still shows most of it. Runs are found by their tags, never by name: runs created before the
digest was in the name (`digits/trial-00`) keep their names and resume.
"""

from __future__ import annotations

from lottery.hparams import ExperimentConfig


def trial_run_name(config: ExperimentConfig, trial: int) -> str:
    """The name of the run of trial `trial` (0-based) of `config`."""
    return f"{config.dataset}/trial-{trial:02d} · {config.config_id()}"
