"""Fitting a masked classifier with Lightning: one `Trainer` per call, evaluating at the end of each round.

Lightning's banners and its DataLoader-workers warning are silenced for the call only, never globally.
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings

import pytorch_lightning as pl

from lottery.data.datamodule import DeviceDataModule
from lottery.hparams import ExperimentConfig
from lottery.training.classifier import Evaluation, MaskedClassifier
from lottery.training.device import lightning_accelerator


def fit(
    module: MaskedClassifier,
    data: DeviceDataModule,
    config: ExperimentConfig,
    epochs: int,
    callbacks: list[pl.Callback] = (),
    show_progress: bool = True,
) -> Evaluation | None:
    """Train `module` for `epochs` epochs, evaluating on the test split every `config.training.epochs` (the
    end of a round); return the last evaluation (None if no round ended)."""
    handler = signal.getsignal(signal.SIGINT)
    lightning_log = logging.getLogger("pytorch_lightning")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)  # no "GPU available: …" banner for every round
    try:
        trainer = pl.Trainer(
            max_epochs=epochs,
            check_val_every_n_epoch=config.training.epochs,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=show_progress,
            precision="bf16-mixed" if config.training.bf16 else "32-true",
            callbacks=list(callbacks),
            **lightning_accelerator(data.train_batches.images.device),
        )
        with warnings.catch_warnings():
            # The data are one tensor on the device, batched by index: no DataLoader workers to add.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
            trainer.fit(module, datamodule=data)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into sys.exit(1); keep it a KeyboardInterrupt
            raise KeyboardInterrupt from None
        raise
    finally:
        lightning_log.setLevel(level)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)  # Lightning leaves Ctrl-C ignored after catching one
    return module.evaluation()
