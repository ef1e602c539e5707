"""A population of K trials trained as one model (`bench.gpu`, M6): each parameter stacked along a new first
dimension, the forward of one trial mapped over it with `torch.func.vmap` (convolutions become grouped
convolutions), the K losses summed and differentiated at once.

Trials stay independent: trial k's loss depends on its own slice only, so the gradient of the sum is each
trial's own gradient, and Adam is elementwise, so one Adam over the stacked parameters is K Adams. Trial k
starts from its own θ0 ⊙ m_k and takes its own batches, as K trials one by one would (up to the order in
which the grouped kernels add: equal to rounding, not bit for bit).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from bench.gpu_steps import Flags, Run, Setup, applied, timed
from lottery.models import network


class Population:
    """Trials 0..`size`−1 of `setup` (its model and data) trained together."""

    def __init__(self, setup: Setup, size: int) -> None:
        self.setup, self.size = setup, size
        starts = [replace(setup, trial=trial).start() for trial in range(size)]
        self.net = network.build(setup.model, starts[0][0]).to(setup.device)
        self.params = {}
        for name, own in self.net.named_parameters():
            layer, kind = name.rsplit(".", 1)
            slices = [start[layer] if kind == "weight" else own.detach().cpu() for start, _ in starts]
            self.params[name] = torch.stack(slices).to(setup.device).requires_grad_()
        layers = list(starts[0][1])
        self.weights = [self.params[f"{layer}.weight"] for layer in layers]
        self.masks = [
            torch.stack([mask[layer] for _, mask in starts]).to(setup.device, torch.float32)
            for layer in layers
        ]
        fused = {"fused": True} if setup.device.type == "cuda" else {}
        self.optimizer = torch.optim.Adam(self.params.values(), lr=setup.lr, **fused)

    def loss(
        self, params: dict[str, torch.Tensor], images: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        return F.cross_entropy(functional_call(self.net, params, (images,)), labels)

    def step(self, rows: torch.Tensor) -> None:
        """One step of every trial: trial k on the batch of indexes `rows[k]` (gathered at once)."""
        images, labels = self.setup.batch(rows.reshape(-1))
        losses = vmap(self.loss)(
            self.params, images.view(*rows.shape, *images.shape[1:]), labels.view(rows.shape)
        )
        losses.sum().backward()
        torch._foreach_mul_([w.grad for w in self.weights], self.masks)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def population(setup: Setup, rows: torch.Tensor, warmup: int) -> Run:
    """Train trials 0..K−1 of `setup` as one over `rows` (steps × K × batch); ms per step of all K trials, and
    every trial's final weights, trial by trial in layer order."""
    trained = Population(setup, rows.shape[1])
    with applied(Flags()):
        for step_rows in rows[:warmup]:
            trained.step(step_rows)
        seconds = timed(setup.device, lambda: [trained.step(step_rows) for step_rows in rows[warmup:]])
    weights = [w.detach()[k].clone() for k in range(trained.size) for w in trained.weights]
    return Run(1000 * seconds / (len(rows) - warmup), weights)
