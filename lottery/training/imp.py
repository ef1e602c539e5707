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

from lottery.hparams import PruningHparams
from lottery.pruning import mask as masks
from lottery.training.classifier import MaskedClassifier


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
    """Ends a round at each evaluation — `fit` evaluates at the end of every round — starting at round
    `first_round` with the module's mask.

    `on_round_end` receives each `RoundResult` (the trial records it) before the next round starts.
    """

    def __init__(
        self,
        theta0: Mapping[str, torch.Tensor],
        pruning: PruningHparams,
        first_round: int,
        on_round_end: Callable[[RoundResult], None],
    ) -> None:
        self.theta0, self.pruning = theta0, pruning
        self.round, self.on_round_end = first_round, on_round_end

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: MaskedClassifier) -> None:
        """A round ends with its evaluation: record it, then prune and rewind."""
        evaluation = module.evaluation()
        current = {name: module.mask(name).cpu() for name in module.layer_names}
        following = None
        if self.round < self.pruning.rounds:
            rates = module.model.SPEC.rates(self.pruning)
            following = masks.prune_by_magnitude(module.weights(), current, rates)
        self.on_round_end(RoundResult(self.round, current, evaluation.acc, evaluation.loss, following))
        if following is not None:
            module.reset_to(self.theta0, following)
            for optimizer in trainer.optimizers:
                optimizer.state.clear()
        self.round += 1
