"""Where `IterativeMagnitudePruning` records a user's tickets: the run of the trainer's `MLFlowLogger`, given
the tracking contract's tags and params — those `make train` gives its runs — so that `python -m analysis`
finds it next to ours, under the model's class name.

The one param a `make train` run has and a callback run lacks is `trials` (how many trials a driver runs);
the lease tag and params belong to `make train`'s drivers, and the dataset input to its registry. Each session
tags the run with what trained it, as a trial does (`lottery.tracking.provenance`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import MLFlowLogger

from lottery.hparams import config_digest
from lottery.tracking import contract, provenance
from lottery.tracking.trial_record import TrialRecord, init_id

if TYPE_CHECKING:
    from lottery.training.imp_run import ImpRun

INIT = "the model's own"  # the `init` param: θ0 is whatever the user's model holds at fit start


def logger_record(trainer: pl.Trainer) -> TrialRecord | None:
    """The run of the trainer's first `MLFlowLogger` (created now if it is not yet), or None without one."""
    logger = next((lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)), None)
    if logger is None:
        return None
    client = logger.experiment
    return TrialRecord(client, client.get_run(logger.run_id))


def record_provenance(record: TrialRecord, module: pl.LightningModule) -> None:
    """Tag the run with this session's environment (`lottery.tracking.provenance`), as a trial does."""
    device = module.device
    environment = provenance.environment(device, torch.are_deterministic_algorithms_enabled())
    provenance.record(record.client, record.run_id, environment)


def params(run: ImpRun, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, str]:
    """Every param of the contract but `trials`, as `make train` would log them for this fit: the optimizer's
    learning rate at fit start, the train loader's batch size (`unknown` if it has none)."""
    options, optimizer = run.options, (trainer.optimizers or [None])[0]
    batch_size = getattr(trainer.train_dataloader, "batch_size", None)
    values = {
        "dataset": options.dataset,
        "seed": options.seed,
        "epochs": options.epochs_per_round,
        "batch_size": "unknown" if batch_size is None else batch_size,
        "lr": run.optimizer_start["groups"][0][0]["lr"] if optimizer is not None else "none",
        "bf16": "bf16" in str(trainer.precision),
        "rounds": options.rounds,
        **run.described_rates,
        "rewind_step": options.rewind_step,
        "winning_tolerance": options.winning_tolerance,
        "train_splits": "train",
        contract.PARAM_MODEL: type(options.root(module)).__name__,
        "init": INIT,
        "optimizer": "none" if optimizer is None else type(optimizer).__name__.lower(),
        contract.PARAM_TRIAL: options.trial,
    }
    return {key: str(value) for key, value in values.items()}


def tags(run: ImpRun, logged: dict[str, str]) -> dict[str, str]:
    """The contract's tags but those a finished ticket adds (`lottery.role`, `lottery.winning`,
    `lottery.verdict`): a run becomes a trial for the analysis only once its ticket is complete. The
    configuration's digest is that of the `logged` params but the trial."""
    return {
        contract.TAG_DATASET: run.options.dataset,
        contract.TAG_TRIAL: str(run.options.trial),
        contract.TAG_INIT: init_id(run.tickets.theta0),
        contract.TAG_CONFIG: config_digest({k: v for k, v in logged.items() if k != contract.PARAM_TRIAL}),
        contract.TAG_REWIND_STEP: str(run.options.rewind_step),
    }
