"""The LightningModule of `make train`: a registered network trained with Adam and evaluated exactly on the
test split. IMP — masks, pruning, rewinding — is the business of the callback it trains with
(`lottery.training.imp`), as for any user's module. A training step never waits for the device: the epoch's
mean loss is the `Heartbeat`'s, summed there.

The evaluation logs `test_acc`, the exact fraction correct / total, and `test_loss`, the mean loss: the
metrics the IMP callback monitors, logged once per evaluation as CPU float64 tensors of one value, which
Lightning passes on unrounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lottery.models import network
from lottery.tracking import contract
from lottery.training.tickets import Evaluation


class Classifier(pl.LightningModule):
    """Model `model` (a name of `lottery.models`) with prunable weights `weights` and zero biases;
    `evaluation()` is its last result on the test split."""

    def __init__(self, model: str, weights: Mapping[str, torch.Tensor], lr: float) -> None:
        super().__init__()
        self.model = network.build(model, weights)
        self.lr = lr
        self._correct: torch.Tensor | None = None  # of the current or last evaluation, on the device
        self._losses: list[tuple[torch.Tensor, int]] = []  # each batch's mean loss (device) and size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(self(images), labels)

    # Lightning's validation loop is our evaluation on the test split: the paper reports test accuracy and
    # the protocol has no validation split. What it sums stays on the device (no host sync per batch) and
    # is never float64 there (Apple's MPS has none): the correct answers are counted in int64, exact up to
    # 2⁶³; each batch's float32 mean loss is kept, and summed once, on the host, in float64.
    def on_validation_epoch_start(self) -> None:
        self._correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self._losses = []

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self._correct += (logits.argmax(1) == labels).sum()
        self._losses.append((F.cross_entropy(logits, labels).detach(), labels.shape[0]))

    def on_validation_epoch_end(self) -> None:
        evaluation = self.evaluation()
        for name, value in ((contract.TEST_ACC, evaluation.acc), (contract.TEST_LOSS, evaluation.loss)):
            self.log(name, torch.tensor(value, dtype=torch.float64), batch_size=1, prog_bar=True)

    def evaluation(self) -> Evaluation | None:
        """The last evaluation: accuracy as an exact fraction correct / total, and the mean loss
        Σ_b loss_b · n_b / n over the batches b, from their float32 means (each product exact in float64, the
        sum rounded once: math.fsum); None before the first."""
        if self._correct is None:
            return None
        means = torch.stack([loss for loss, _ in self._losses]).tolist()
        total = sum(size for _, size in self._losses)
        loss_sum = math.fsum(mean * size for mean, (_, size) in zip(means, self._losses, strict=True))
        return Evaluation(acc=int(self._correct) / total, loss=loss_sum / total)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam; fused on CUDA (one kernel for every parameter; it rounds differently in the last bits, which
        no CPU run sees), the default elsewhere."""
        fused = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.Adam(self.parameters(), lr=self.lr, **fused)
