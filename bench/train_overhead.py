"""Lightning's overhead: one training epoch through our Lightning path (Trainer + Classifier + the IMP
callback + DeviceDataModule) against a plain PyTorch loop doing the same work (same model, masked gradients,
Adam, data and batches), interleaved in one run. Target: Lightning / plain ≤ 1.10 on CPU."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from lottery.data.datamodule import DeviceDataModule
from lottery.data.digits import load
from lottery.execution.trial import theta0_for
from lottery.hparams import ExperimentConfig
from lottery.models.conv2 import Network as Conv2
from lottery.pruning import mask as masks
from lottery.tracking import contract
from lottery.training.classifier import Classifier
from lottery.training.fit import fit
from lottery.training.imp import IterativeMagnitudePruning

LAYER_NAMES = Conv2.SPEC.layer_names

REPEATS = 3
BATCH_SIZE = 60


def half_pruned_mask(theta0):
    return masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))


def lightning_epoch(dataset, theta0, mask) -> float:
    """`fit` exactly as a trial calls it, with the IMP callback in round 1 of the half-pruned ticket; a round
    has 10 epochs, so this first one runs no evaluation."""
    module = Classifier("conv2", theta0, lr=2e-4)
    imp = IterativeMagnitudePruning(
        layers=LAYER_NAMES, network="model", monitor=contract.TEST_ACC, controls=()
    )
    imp.record_into(None, lambda result: None)  # driven as a trial drives it: one epoch of the round
    imp.resume_at(1, mask, theta0, theta0)
    data = DeviceDataModule(dataset, BATCH_SIZE, (0,))
    started = time.perf_counter()
    fit(module, data, ExperimentConfig(dataset="digits"), epochs=1, callbacks=[imp], show_progress=False)
    return time.perf_counter() - started


def plain_epoch(dataset, theta0, mask) -> float:
    module = Classifier("conv2", {name: w * mask[name] for name, w in theta0.items()}, lr=2e-4)
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-4)
    batches = DeviceDataModule(dataset, BATCH_SIZE, (0,)).train_dataloader()
    started = time.perf_counter()
    module.train()
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(module(images), labels).backward()
        for name in LAYER_NAMES:
            module.model.layer(name).weight.grad.mul_(mask[name])
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    dataset = load()
    theta0 = theta0_for(0, 0, "conv2")
    mask = half_pruned_mask(theta0)
    plain_epoch(dataset, theta0, mask)  # warm-up: allocator, oneDNN kernels
    times = {"plain": [], "lightning": []}
    for _ in range(REPEATS):
        times["plain"].append(plain_epoch(dataset, theta0, mask))
        times["lightning"].append(lightning_epoch(dataset, theta0, mask))
    plain, lightning = statistics.median(times["plain"]), statistics.median(times["lightning"])
    steps = -(-len(dataset.train) // BATCH_SIZE)
    print(
        f"one epoch of digits ({len(dataset.train)} images, {steps} steps of {BATCH_SIZE}), "
        f"median of {REPEATS}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'path':<12}{'seconds':>10}{'ms/step':>10}")
    print(f"{'plain loop':<12}{plain:>10.2f}{1000 * plain / steps:>10.1f}")
    print(f"{'lightning':<12}{lightning:>10.2f}{1000 * lightning / steps:>10.1f}")
    print(f"lightning / plain = {lightning / plain:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
