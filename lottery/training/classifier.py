"""The LightningModule of `make train`: a registered network trained with Adam and evaluated exactly on the
test split. IMP — masks, pruning, rewinding — is the business of the callback it trains with
(`lottery.training.imp`), as for any user's module.

The evaluation counts correct answers and sums losses on the device (one host sync per evaluation) and logs
`test_acc`, the exact fraction correct / total, and `test_loss`, the mean loss: the metrics the IMP callback
monitors, logged as CPU float64 tensors of one value, which Lightning passes on unrounded.
"""

from __future__ import annotations

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
        self._sums: torch.Tensor | None = None  # of the current or last evaluation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    # Lightning's validation loop is our evaluation on the test split: the paper reports test accuracy and
    # the protocol has no validation split. The sums are kept on the device: no host sync per batch.
    def on_validation_epoch_start(self) -> None:
        self._sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # correct, loss · n, n

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        size = labels.shape[0]
        batch_sums = torch.stack([(logits.argmax(1) == labels).sum().double(), loss.double() * size])
        self._sums += torch.cat([batch_sums, batch_sums.new_tensor([size])])

    def on_validation_epoch_end(self) -> None:
        evaluation = self.evaluation()
        for name, value in ((contract.TEST_ACC, evaluation.acc), (contract.TEST_LOSS, evaluation.loss)):
            self.log(name, torch.tensor(value, dtype=torch.float64), batch_size=1, prog_bar=True)

    def evaluation(self) -> Evaluation | None:
        """The last evaluation: accuracy as an exact fraction correct / total, and the mean loss (float64);
        None before the first."""
        if self._sums is None:
            return None
        correct, loss_sum, total = self._sums.tolist()
        return Evaluation(acc=correct / total, loss=loss_sum / total)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
