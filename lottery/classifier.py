"""The LightningModule: Conv-2 trained with Adam under a mask whose pruned weights stay exactly zero.

Weights are set to θ0 ⊙ m and gradients are multiplied by m before every optimizer step. With Adam
state reset whenever the mask changes, a pruned weight's moments stay 0, so its update is exactly 0
and the weight stays exactly zero: no forward hooks, no re-masking on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lottery.layers import LAYER_NAMES
from lottery.model import build


class Diverged(Exception):
    """Training produced weights or a loss that are not finite."""


class MaskedClassifier(pl.LightningModule):
    """Conv-2 with weights θ ⊙ m. Logs `test_loss` and `test_acc` (fraction) on the evaluation set.

    Raises `Diverged` at the end of a training epoch whose weights are not all finite, and at the end of
    an evaluation whose loss is not finite: nothing is made of a diverged network.
    """

    def __init__(
        self, theta0: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor], lr: float
    ) -> None:
        super().__init__()
        self.model = build(dict(theta0))
        self.lr = lr
        for name in LAYER_NAMES:
            self.register_buffer(f"mask_{name}", mask[name].clone())
        self.reset_to(theta0)

    def mask(self, name: str) -> torch.Tensor:
        return getattr(self, f"mask_{name}")

    @torch.no_grad()
    def reset_to(
        self, theta0: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor] | None = None
    ) -> None:
        """Weights ← θ0 ⊙ mask, biases ← 0; a new `mask` replaces the current one first."""
        for name in LAYER_NAMES:
            if mask is not None:
                self.mask(name).copy_(mask[name])
            layer = self.model.layer(name)
            layer.weight.copy_(theta0[name].to(layer.weight.device) * self.mask(name))
            layer.bias.zero_()

    def weights(self) -> dict[str, torch.Tensor]:
        return {name: self.model.layer(name).weight.detach() for name in LAYER_NAMES}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        size = labels.shape[0]
        self.log("test_loss", F.cross_entropy(logits, labels), batch_size=size, prog_bar=True)
        self.log("test_acc", (logits.argmax(1) == labels).float().mean(), batch_size=size, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        bad = [name for name, weight in self.weights().items() if not torch.isfinite(weight).all()]
        if bad:
            raise Diverged(f"the weights of {', '.join(bad)} are not finite")

    def on_validation_epoch_end(self) -> None:
        loss = self.trainer.callback_metrics.get("test_loss")
        if loss is not None and not torch.isfinite(loss):
            raise Diverged(f"the test loss is {float(loss)}")

    def on_before_optimizer_step(self, optimizer) -> None:
        for name in LAYER_NAMES:
            grad = self.model.layer(name).weight.grad
            if grad is not None:
                grad.mul_(self.mask(name))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
