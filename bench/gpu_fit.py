"""The trial's own training path on the device (`bench.gpu`): M1, `fit` exactly as a trial calls it, and the
checks of what only a GPU shows about it — the batch order of a seed is the CPU's there (issue 4), and `fit`
with its deterministic algorithms gives the same weights and evaluation twice, bit for bit (issue 5)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from bench.gpu_steps import MEAN, STD, Flags, Setup, applied, synthetic, timed
from lottery.data.batches import Normalizer, ShuffledBatches
from lottery.data.datamodule import DeviceDataModule
from lottery.data.dataset import Dataset, Split
from lottery.hparams import ExperimentConfig, PruningHparams, TrainingHparams
from lottery.models import spec
from lottery.seeds import IMP_BATCHES_STREAM
from lottery.tracking import contract
from lottery.training.classifier import Classifier
from lottery.training.fit import Heartbeat, fit
from lottery.training.imp import IterativeMagnitudePruning
from lottery.training.tickets import Evaluation


def synthetic_dataset(sizes: tuple[int, int], device: torch.device) -> Dataset:
    train, test = synthetic(sizes[0], device), synthetic(sizes[1], device, seed=1)
    return Dataset("synthetic", Split(*train), Split(*test), MEAN, STD, source="bench.gpu")


def one_epoch(setup: Setup, dataset: Dataset, config: ExperimentConfig) -> tuple[Classifier, Evaluation]:
    """One epoch of round 0 (from θ0 ⊙ m) as a trial on Ray trains it: the IMP callback, the Heartbeat of a
    worker, no bars; evaluated only if a round is one epoch (`config.training.epochs`)."""
    start, mask = setup.start()
    module = Classifier(setup.model, start, config.training.lr)
    data = DeviceDataModule(dataset, config.training.batch_size, (config.seed, 0, IMP_BATCHES_STREAM))
    imp = IterativeMagnitudePruning(
        rounds=config.pruning.rounds,
        epochs_per_round=config.training.epochs,
        layers=spec(setup.model).layer_names,
        network="model",
        monitor=contract.TEST_ACC,
        loss_monitor=contract.TEST_LOSS,
        controls=(),
    )
    imp.record_into(None, lambda result: None)
    imp.resume_at(0, mask, start, start)
    heartbeat = Heartbeat(lambda line: None, lambda epoch: "bench", config.training.epochs)
    evaluation = fit(module, data, config, 1, [imp, heartbeat], show_progress=False)
    return module, evaluation


def host_syncs(run: Callable[[], object]) -> int:
    """How many operations of `run()` wait for the device (CUDA's sync debug mode warns at each)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(warning.message) for warning in caught)


def fit_path(setup: Setup, sizes: tuple[int, int], batch_size: int) -> dict:
    """M1: ms/step of one epoch of `fit` (Trainer construction included; no evaluation: the first epoch of a
    round of 10), after one untimed; host syncs per step on CUDA."""
    dataset = synthetic_dataset(sizes, setup.device)
    config = ExperimentConfig(
        dataset="cifar10", model=setup.model, training=TrainingHparams(batch_size=batch_size)
    )
    steps = -(-sizes[0] // batch_size)
    with applied(Flags()):  # `fit` turns deterministic algorithms on, on CUDA: restored afterwards
        one_epoch(setup, dataset, config)
        seconds = timed(setup.device, lambda: one_epoch(setup, dataset, config))
        syncs = host_syncs(lambda: one_epoch(setup, dataset, config)) if setup.device.type == "cuda" else None
    return {
        "steps": steps,
        "ms_per_step": 1000 * seconds / steps,
        "host_syncs_per_step": syncs and syncs / steps,
    }


def batch_order_is_the_cpus(device: torch.device, size: int, batch_size: int) -> bool:
    """Issue 4: two epochs of a seed's batches on `device` are the CPU's, index for index."""

    def order(where: torch.device) -> torch.Tensor:
        blank = torch.zeros(1, 3, 32, 32, dtype=torch.uint8, device=where).expand(size, 3, 32, 32)
        split = Split(blank, torch.arange(size, device=where))
        batches = ShuffledBatches(split, Normalizer(MEAN, STD, where), batch_size, (0, 0, IMP_BATCHES_STREAM))
        return torch.cat([labels.cpu() for _ in range(2) for _, labels in batches])

    return torch.equal(order(device), order(torch.device("cpu")))


def fit_is_deterministic(setup: Setup, sizes: tuple[int, int], batch_size: int) -> dict:
    """Issue 5: a round of one epoch and its evaluation (the last round: no pruning resets the weights), `fit`
    twice from the same θ0 ⊙ m: equal trained weights and evaluations?"""
    dataset = synthetic_dataset(sizes, setup.device)
    config = ExperimentConfig(
        dataset="cifar10",
        model=setup.model,
        training=TrainingHparams(epochs=1, batch_size=batch_size),
        pruning=PruningHparams(rounds=0),
    )
    with applied(Flags()):
        (first, first_eval), (second, second_eval) = (one_epoch(setup, dataset, config) for _ in range(2))
    same = all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))
    return {
        "weights_equal": same,
        "evaluation_equal": first_eval == second_eval,
        contract.TEST_ACC: first_eval.acc,
    }
