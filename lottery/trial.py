"""One IMP trial: rounds 0..R with pruning and rewinding to θ0, then the random-ticket control.

Trial k starts from θ0 drawn from (SEED, k) only. Resuming picks up at the first round whose metrics
are missing, from the mask the store holds for it; a finished random-ticket control is not redone.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import warnings
from collections.abc import Callable, Iterator

import pytorch_lightning as pl
import torch
from tqdm import tqdm

from lottery import mask as masks
from lottery import seeds
from lottery.classifier import Diverged, MaskedClassifier
from lottery.data.datamodule import DeviceDataModule
from lottery.data.dataset import Dataset
from lottery.device import lightning_accelerator
from lottery.errors import UserError
from lottery.hparams import ExperimentConfig
from lottery.imp import IterativeMagnitudePruning, RoundResult
from lottery.model import initial_weights
from lottery.tracking import RANDOM_MASK_ARTIFACT, WINNING_MASK_ARTIFACT, round_mask_artifact
from lottery.trial_record import TrialRecord
from lottery.verdict import Verdict, judge

logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")


def theta0_for(seed: int, trial: int) -> dict[str, torch.Tensor]:
    """θ0 of trial `trial`: depends on (seed, trial) only, never on the dataset."""
    return initial_weights(seeds.torch_generator(seed, trial, seeds.INIT_STREAM))


def fit(
    module: MaskedClassifier,
    data: DeviceDataModule,
    config: ExperimentConfig,
    epochs: int,
    callbacks: list[pl.Callback] = (),
    show_progress: bool = True,
) -> dict[str, float]:
    """Train `module` for `epochs` epochs, evaluating on the test split every `config.training.epochs`."""
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
    handler = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, datamodule=data)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into sys.exit(1); keep it a KeyboardInterrupt
            raise KeyboardInterrupt from None
        raise
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)  # Lightning leaves Ctrl-C ignored after catching one
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


class Trial:
    """Trial `index` (0-based) of `config`, recorded in `record`; `say` prints the summary lines."""

    def __init__(
        self,
        config: ExperimentConfig,
        index: int,
        dataset: Dataset,
        record: TrialRecord,
        say: Callable[[str], None] = tqdm.write,
        show_progress: bool = True,
    ) -> None:
        self.config, self.index, self.dataset, self.record = config, index, dataset, record
        self.say, self.show_progress = say, show_progress
        self.label = f"{config.dataset} trial {index + 1}/{config.trials}"

    def run(self) -> Verdict:
        """Train what is missing, finish the run, and return the verdict on its final ticket."""
        theta0 = self.record.ensure_theta0(theta0_for(self.config.seed, self.index))
        rounds = self.config.pruning.rounds
        first = self.record.completed_rounds()
        if first <= rounds:
            self.train_rounds(theta0, first)
        final_mask = self.record.load_mask(round_mask_artifact(rounds)) if rounds else masks.full(theta0)
        if not self.record.metric_steps("random_test_acc"):
            self.train_random_ticket(theta0, final_mask)
        self.record.log_arrays(WINNING_MASK_ARTIFACT, masks.to_numpy(final_mask))
        accuracy = self.record.metric_steps("test_acc")
        verdict = judge(
            accuracy[0], accuracy[rounds], self.config.winning_tolerance, self.dataset.test.labels
        )
        self.record.finish(verdict)
        random_acc = self.record.metric_steps("random_test_acc")[rounds]
        self.say(
            f"{self.label}: final ticket {accuracy[rounds]:.2%}, dense {accuracy[0]:.2%}, "
            f"random ticket {random_acc:.2%}: {verdict.reason}"
        )
        return verdict

    def train_rounds(self, theta0: dict[str, torch.Tensor], first: int) -> None:
        mask = masks.full(theta0) if first == 0 else self.record.load_mask(round_mask_artifact(first))
        epochs = self.config.training.epochs
        imp = IterativeMagnitudePruning(theta0, self.config.pruning, epochs, first, self.on_round_end)
        data = DeviceDataModule(
            self.dataset,
            self.config.training.batch_size,
            (self.config.seed, self.index, seeds.IMP_BATCHES_STREAM),
            first * epochs,
        )
        module = MaskedClassifier(theta0, mask, self.config.training.lr)
        with self.diverged_as(lambda: f"round {imp.round}"):
            fit(
                module,
                data,
                self.config,
                (self.config.pruning.rounds + 1 - first) * epochs,
                [imp],
                self.show_progress,
            )

    @contextlib.contextmanager
    def diverged_as(self, what: Callable[[], str]) -> Iterator[None]:
        """A `Diverged` from training becomes a user error naming what diverged and the likely cause."""
        try:
            yield
        except Diverged as error:
            raise UserError(
                f"{what()} diverged ({error}) at learning rate {self.config.training.lr:g}; lower LR and "
                "re-run: no ticket is made from a diverged round"
            ) from None

    def on_round_end(self, result: RoundResult) -> None:
        self.record.log_round(result)
        self.say(
            f"{self.label} · round {result.round}/{self.config.pruning.rounds} · "
            f"sparsity {masks.sparsity(result.mask):.1%} · test acc {result.test_acc:.2%}"
        )

    def train_random_ticket(self, theta0: dict[str, torch.Tensor], final_mask: masks.Mask) -> None:
        """The control: a random mask with the final ticket's per-layer counts, on the same θ0."""
        rng = seeds.numpy_rng(self.config.seed, self.index, seeds.RANDOM_TICKET_STREAM)
        random_mask = masks.random_like(final_mask, rng)
        data = DeviceDataModule(
            self.dataset,
            self.config.training.batch_size,
            (self.config.seed, self.index, seeds.RANDOM_BATCHES_STREAM),
        )
        module = MaskedClassifier(theta0, random_mask, self.config.training.lr)
        with self.diverged_as(lambda: "the random ticket"):
            metrics = fit(
                module, data, self.config, self.config.training.epochs, show_progress=self.show_progress
            )
        self.record.log_arrays(RANDOM_MASK_ARTIFACT, masks.to_numpy(random_mask))
        self.record.log_metrics(
            {"random_test_acc": metrics["test_acc"], "random_test_loss": metrics["test_loss"]},
            step=self.config.pruning.rounds,
        )
