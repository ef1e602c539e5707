"""Iterative magnitude pruning as a Lightning callback (Frankle & Carbin, 2019).

Training runs rounds of `epochs` epochs each. At the end of round r < R, from every layer the
round(rate · remaining) surviving weights of smallest magnitude are pruned; the survivors are reset to θ0
and Adam's state is cleared, so round r + 1 trains θ0 ⊙ m_{r+1} from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytorch_lightning as pl
import torch

from lottery import mask as masks
from lottery.classifier import MaskedClassifier
from lottery.hparams import PruningHparams


@dataclass(frozen=True)
class RoundResult:
    """Round `round` trained `mask` to `test_acc` / `test_loss`; `next_mask` is what round + 1 trains
    (None after the last round)."""

    round: int
    mask: masks.Mask
    test_acc: float
    test_loss: float
    next_mask: masks.Mask | None


class IterativeMagnitudePruning(pl.Callback):
    """Ends a round every `epochs` epochs, starting at round `first_round` with the module's mask.

    `on_round_end` receives each `RoundResult` (the trial records it) before the next round starts.
    """

    def __init__(
        self,
        theta0: Mapping[str, torch.Tensor],
        pruning: PruningHparams,
        epochs: int,
        first_round: int,
        on_round_end: Callable[[RoundResult], None],
    ) -> None:
        self.theta0, self.pruning, self.epochs = theta0, pruning, epochs
        self.round, self.on_round_end = first_round, on_round_end

    def on_train_epoch_end(self, trainer: pl.Trainer, module: MaskedClassifier) -> None:
        if (trainer.current_epoch + 1) % self.epochs:
            return
        current = {name: module.mask(name).cpu() for name in module.model.prunable_weights()}
        following = None
        if self.round < self.pruning.rounds:
            following = masks.prune_by_magnitude(module.weights(), current, self.pruning.rate)
        metrics = trainer.callback_metrics
        self.on_round_end(
            RoundResult(
                self.round, current, float(metrics["test_acc"]), float(metrics["test_loss"]), following
            )
        )
        if following is not None:
            module.reset_to(self.theta0, following)
            for optimizer in trainer.optimizers:
                optimizer.state.clear()
        self.round += 1
