"""The LightningModule: Conv-2 trained with Adam under a mask whose pruned weights stay exactly zero.

Weights are set to θ0 ⊙ m and gradients are multiplied by m before every optimizer step (one foreach
multiply over the layers). With Adam state reset whenever the mask changes, a pruned weight's moments stay
0, so its update is exactly 0 and the weight stays exactly zero: no forward hooks, no re-masking on the hot
path. A training step never waits for the device: the epoch's mean loss is the `Heartbeat`'s, summed there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lottery.models import network


class Diverged(Exception):
    """Training produced weights or a loss that are not finite."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation on the test split: accuracy (fraction) and mean cross-entropy loss."""

    acc: float
    loss: float


class MaskedClassifier(pl.LightningModule):
    """Model `model` (a name of `lottery.models`) with weights θ ⊙ m; `evaluation()` is its last result on
    the test split.

    Raises `Diverged` at the end of a training epoch whose weights are not all finite, and at the end of
    an evaluation whose loss is not finite: nothing is made of a diverged network.
    """

    def __init__(
        self, model: str, theta0: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor], lr: float
    ) -> None:
        super().__init__()
        self.model = network.build(model, theta0)
        self.layer_names = self.model.SPEC.layer_names
        self.lr = lr
        self._correct: torch.Tensor | None = None  # of the current or last evaluation, on the device
        self._losses: list[tuple[torch.Tensor, int]] = []  # each batch's mean loss (device) and size
        self._grad_masks: list[torch.Tensor] | None = None  # the masks in the gradients' dtype, for foreach
        for name in self.layer_names:
            self.register_buffer(f"mask_{name}", mask[name].clone())
        self.reset_to(theta0)

    def mask(self, name: str) -> torch.Tensor:
        return getattr(self, f"mask_{name}")

    @torch.no_grad()
    def reset_to(
        self, theta0: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor] | None = None
    ) -> None:
        """Weights ← θ0 ⊙ mask, biases ← 0; a new `mask` replaces the current one first."""
        for name in self.layer_names:
            if mask is not None:
                self.mask(name).copy_(mask[name])
            layer = self.model.layer(name)
            layer.weight.copy_(theta0[name].to(layer.weight.device) * self.mask(name))
            layer.bias.zero_()
        self._grad_masks = None

    def weights(self) -> dict[str, torch.Tensor]:
        return {name: self.model.layer(name).weight.detach() for name in self.layer_names}

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
        loss = F.cross_entropy(logits, labels)
        size = labels.shape[0]
        self._correct += (logits.argmax(1) == labels).sum()
        self._losses.append((loss.detach(), size))
        self.log("test_loss", loss, batch_size=size, prog_bar=True)

    def evaluation(self) -> Evaluation | None:
        """The last evaluation: accuracy as an exact fraction correct / total, and the mean loss
        Σ_b loss_b · n_b / n over the batches b, from their float32 means (each product exact in float64, the
        sum rounded once: math.fsum); None before the first; `Diverged` if the loss is not finite."""
        if self._correct is None:
            return None
        means = torch.stack([loss for loss, _ in self._losses]).tolist()
        total = sum(size for _, size in self._losses)
        loss_sum = math.fsum(mean * size for mean, (_, size) in zip(means, self._losses, strict=True))
        if not math.isfinite(loss_sum):
            raise Diverged(f"the test loss is {loss_sum / total}")
        return Evaluation(acc=int(self._correct) / total, loss=loss_sum / total)

    def on_train_epoch_end(self) -> None:
        bad = [name for name, weight in self.weights().items() if not torch.isfinite(weight).all()]
        if bad:
            raise Diverged(f"the weights of {', '.join(bad)} are not finite")

    def on_validation_epoch_end(self) -> None:
        self.evaluation()  # a diverged evaluation stops here, whoever else reads it

    def on_before_optimizer_step(self, optimizer) -> None:
        grads = [self.model.layer(name).weight.grad for name in self.layer_names]
        if self._grad_masks is None:  # the first step after a new mask (`reset_to`), on the training device
            self._grad_masks = [self.mask(name).to(grads[0].dtype) for name in self.layer_names]
        torch._foreach_mul_(grads, self._grad_masks)  # g ⊙ m, bit for bit, in one kernel on CUDA

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam; fused on CUDA (one kernel for every parameter; it rounds differently in the last bits, which
        no CPU run sees), the default elsewhere."""
        fused = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.Adam(self.parameters(), lr=self.lr, **fused)
