"""The training path ready for accelerators, as far as a CPU can show it: the evaluation never makes a float64
tensor (Apple's MPS has none) and counts exactly; a training step never waits for the device; the batch order
is drawn on the CPU whatever the device; deterministic algorithms on CUDA only. What only a GPU shows is
checked by `make bench-gpu` (bench/gpu.py)."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lottery.data.batches import Normalizer, ShuffledBatches
from lottery.data.datamodule import DeviceDataModule
from lottery.data.dataset import Split
from lottery.execution.trial import theta0_for
from lottery.hparams import ExperimentConfig, TrainingHparams
from lottery.pruning import mask as masks
from lottery.training.classifier import Classifier
from lottery.training.device import deterministic_algorithms
from lottery.training.fit import fit
from lottery.training.imp import IterativeMagnitudePruning


class Dtypes(TorchDispatchMode):
    """Records the dtype of every tensor any operation makes while active."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, tuple | list) else (out,):
            if isinstance(value, torch.Tensor):
                self.seen.add(value.dtype)
        return out


def toy_module() -> Classifier:
    return Classifier("toy", theta0_for(0, 0, "toy"), lr=2e-4)


def imp_callback() -> IterativeMagnitudePruning:
    """The IMP callback as a trial drives it, in round 1 of a half-pruned toy ticket (masking every step)."""
    theta0 = theta0_for(0, 0, "toy")
    mask = masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))
    imp = IterativeMagnitudePruning(
        rounds=1, epochs_per_round=5, layers=tuple(theta0), network="model", monitor="test_acc", controls=()
    )
    imp.record_into(None, lambda result: None)
    imp.resume_at(1, mask, theta0, theta0)
    return imp


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # hooks called without a Trainer
def test_the_evaluation_counts_exactly_and_makes_no_float64_tensor(tiny_digits):
    module = toy_module()
    batches = DeviceDataModule(tiny_digits, 60, (0,)).val_dataloader()
    batches.batch_size = 25  # 60 test images: batches of 25, 25 and 10
    with torch.no_grad(), Dtypes() as made:
        module.on_validation_epoch_start()
        for index, batch in enumerate(batches):
            module.validation_step(batch, index)
    evaluation = module.evaluation()
    assert torch.float64 not in made.seen and torch.int64 in made.seen
    images, labels = next(iter(DeviceDataModule(tiny_digits, 60, (0,)).val_dataloader()))
    with torch.no_grad():
        logits = module(images)
    assert evaluation.acc == int((logits.argmax(1) == labels).sum()) / 60
    expected = torch.nn.functional.cross_entropy(logits.double(), labels).item()
    assert abs(evaluation.loss - expected) < 1e-6


def test_a_training_epoch_reads_nothing_back_from_the_device(tiny_digits, monkeypatch):
    # 12 steps of 10 images and no evaluation (a round has 5 epochs): with the train loss logged for the
    # progress bar, Lightning read it back (`.item()`) at every step. (Adam on the CPU reads its step count,
    # which lives on the host there.)
    reads = []
    item = torch.Tensor.item

    def spy(tensor):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if not caller.startswith("torch.optim"):
            reads.append(caller)
        return item(tensor)

    monkeypatch.setattr(torch.Tensor, "item", spy)
    config = ExperimentConfig(dataset="digits", training=TrainingHparams(epochs=5), model="toy")
    data = DeviceDataModule(tiny_digits, 10, (0,))
    fit(toy_module(), data, config, epochs=1, callbacks=[imp_callback()], show_progress=False)
    assert reads == []


def test_the_batch_order_is_drawn_on_the_cpu_whatever_the_device():
    # No generator exists on the meta device (nor the same permutation on CUDA's): the order must come
    # from the CPU's and be copied over.
    images = torch.zeros(100, 3, 32, 32, dtype=torch.uint8, device="meta")
    split = Split(images, torch.arange(100, device="meta"))
    batches = ShuffledBatches(split, Normalizer((0, 0, 0), (1, 1, 1), torch.device("meta")), 30, (0, 0, 1))
    shapes = [tuple(labels.shape) for _, labels in batches]
    assert shapes == [(30,), (30,), (30,), (10,)]


def test_deterministic_algorithms_on_cuda_only():
    assert deterministic_algorithms(torch.device("cuda", 0))
    assert not any(deterministic_algorithms(torch.device(kind)) for kind in ("cpu", "mps"))
