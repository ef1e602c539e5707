"""Iterative magnitude pruning as a Lightning callback (Frankle & Carbin, 2019).

Training runs rounds of `epochs` epochs each. At the end of round r < R, from every layer the
round(rate · remaining) surviving weights of smallest magnitude are pruned; the survivors are reset to the
rewind point θ_k and Adam's state is cleared, so round r + 1 trains θ_k ⊙ m_{r+1} from scratch.

θ_k is θ0 for k = 0 (Frankle & Carbin 2019); for k > 0 (late rewinding, Frankle et al. 2019) it is the
whole network after k optimizer steps of the dense round 0, which this callback snapshots.
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
    (None after the last round) from `rewind_point`, θ_k."""

    round: int
    mask: masks.Mask
    test_acc: float
    test_loss: float
    next_mask: masks.Mask | None
    rewind_point: Mapping[str, torch.Tensor]


class IterativeMagnitudePruning(pl.Callback):
    """Ends a round at each evaluation — `fit` evaluates at the end of every round — starting at round
    `first_round` with the module's mask. `rewind_point` is θ_k, or None when round 0 is to be trained with
    k = `pruning.rewind_step` > 0: the callback then takes θ_k after the k-th optimizer step.

    `on_round_end` receives each `RoundResult` (the trial records it) before the next round starts.
    """

    def __init__(
        self,
        rewind_point: Mapping[str, torch.Tensor] | None,
        pruning: PruningHparams,
        first_round: int,
        on_round_end: Callable[[RoundResult], None],
    ) -> None:
        if rewind_point is None and (first_round > 0 or pruning.rewind_step == 0):
            raise ValueError("only round 0 with a rewind step > 0 takes its rewind point itself")
        self.rewind_point, self.pruning = rewind_point, pruning
        self.round, self.on_round_end = first_round, on_round_end

    def on_train_batch_end(self, trainer: pl.Trainer, module: MaskedClassifier, *args) -> None:
        if self.rewind_point is None and trainer.global_step == self.pruning.rewind_step:
            self.rewind_point = {name: w.cpu().clone() for name, w in module.weights().items()}

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: MaskedClassifier) -> None:
        """A round ends with its evaluation: record it, then prune and rewind."""
        evaluation = module.evaluation()
        current = {name: module.mask(name).cpu() for name in module.layer_names}
        following = None
        if self.round < self.pruning.rounds:
            rates = module.model.SPEC.rates(self.pruning)
            following = masks.prune_by_magnitude(module.weights(), current, rates)
        if self.rewind_point is None:
            raise ValueError(
                f"round 0 ended before optimizer step {self.pruning.rewind_step}, the rewind step"
            )
        self.on_round_end(
            RoundResult(self.round, current, evaluation.acc, evaluation.loss, following, self.rewind_point)
        )
        if following is not None:
            module.reset_to(self.rewind_point, following)
            for optimizer in trainer.optimizers:
                optimizer.state.clear()
        self.round += 1
