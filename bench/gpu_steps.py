"""The training step of the GPU benchmark outside Lightning (`bench.gpu`: M2–M4, M8, M9), on synthetic data
resident on the device: a trial's model at 50 % sparsity, its batches (a permutation drawn on the CPU, full
batches only), masked gradients, Adam.

- `eager`: M2, the plain loop (a multiply per layer for the mask, Adam's default implementation), or M3 (one
  foreach multiply, fused Adam on CUDA — what the IMP callback and `Classifier` do);
- `graph`: M4, the whole step — forward, backward, mask, fused capturable Adam — one CUDA graph, replayed;
- `Flags`: the precision and determinism switches M8 and M9 vary, restored after each run.

A run starts from θ0 ⊙ m and takes every batch of `rows`; the first `warmup` steps are untimed. It returns
ms/step and the final weights, so that two runs can be compared bit for bit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lottery.data.batches import Normalizer, ShuffledBatches
from lottery.data.dataset import Split
from lottery.models import network
from lottery.pruning import mask as masks

# Synthetic images are normalised with these; their values do not matter to speed.
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class Flags:
    """What changes the arithmetic: TF32 (torch's defaults: off for matrix products, on for cuDNN), bf16
    autocast, channels-last layout, cuDNN's autotuner, deterministic algorithms (warn-only, as `fit`)."""

    tf32_matmul: bool = False
    tf32_cudnn: bool = True
    bf16: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    deterministic: bool = False


@contextlib.contextmanager
def applied(flags: Flags) -> Iterator[None]:
    """The global switches of `flags` (all but bf16 and channels-last, which a run applies), then restored."""
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = (
        flags.tf32_matmul,
        flags.tf32_cudnn,
    )
    torch.backends.cudnn.benchmark = flags.cudnn_benchmark
    torch.use_deterministic_algorithms(flags.deterministic, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.backends.cudnn.benchmark = saved[2]
        torch.use_deterministic_algorithms(saved[3], warn_only=saved[4])


@dataclass(frozen=True)
class Setup:
    """Trial `trial`'s model `model` at 50 % sparsity, over `images`/`labels` on their device (`on`)."""

    model: str
    images: torch.Tensor
    labels: torch.Tensor
    normalize: Normalizer
    lr: float = 2e-4
    trial: int = 0

    @classmethod
    def on(cls, model: str, images: torch.Tensor, labels: torch.Tensor, trial: int = 0) -> Setup:
        return cls(model, images, labels, Normalizer(MEAN, STD, images.device), trial=trial)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def start(self) -> tuple[dict[str, torch.Tensor], masks.Mask]:
        """θ0 ⊙ m and m: every layer's half of smallest magnitude pruned."""
        from lottery.execution.trial import theta0_for  # Lightning: not loaded by `bench.gpu` without CUDA

        theta0 = theta0_for(0, self.trial, self.model)
        mask = masks.prune_by_magnitude(theta0, masks.full(theta0), dict.fromkeys(theta0, 0.5))
        return {name: theta0[name] * mask[name] for name in theta0}, mask

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalize(self.images[index]), self.labels[index]


def synthetic(size: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` random uint8 images 3×32×32 and labels 0..9, on `device`."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return images.to(device), torch.randint(0, 10, (size,), generator=generator).to(device)


def batch_rows(size: int, batch_size: int, steps: int, device: torch.device, *entropy: int) -> torch.Tensor:
    """`steps` × `batch_size` indexes: the full batches of successive epochs, exactly as `ShuffledBatches`
    draws them from `entropy` (its labels are the indexes here), copied to `device`."""
    blank = torch.zeros(1, 3, 32, 32, dtype=torch.uint8).expand(size, 3, 32, 32)
    normalize = Normalizer(MEAN, STD, torch.device("cpu"))
    batches = ShuffledBatches(Split(blank, torch.arange(size)), normalize, batch_size, entropy)
    rows: list[torch.Tensor] = []
    while len(rows) < steps:
        rows.extend(index for _, index in batches if len(index) == batch_size)
    return torch.stack(rows[:steps]).to(device)


@dataclass(frozen=True)
class Run:
    ms_per_step: float
    weights: list[torch.Tensor]

    def equals(self, other: Run) -> bool:
        return all(torch.equal(a, b) for a, b in zip(self.weights, other.weights, strict=True))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, steps: Callable[[], None]) -> float:
    synchronize(device)
    started = time.perf_counter()
    steps()
    synchronize(device)
    return time.perf_counter() - started


def prepared(setup: Setup, flags: Flags):
    """The network at θ0 ⊙ m on the device (channels-last if asked), its weights in layer order, and m
    (bool, as the plain loop multiplies it)."""
    start, mask = setup.start()
    net = network.build(setup.model, start).to(setup.device)
    if flags.channels_last:
        net = net.to(memory_format=torch.channels_last)
    weights = [net.layer(name).weight for name in net.SPEC.layer_names]
    return net, weights, [mask[name].to(setup.device) for name in net.SPEC.layer_names]


def loss_of(net, setup: Setup, index: torch.Tensor, flags: Flags) -> torch.Tensor:
    images, labels = setup.batch(index)
    if flags.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(setup.device.type, dtype=torch.bfloat16, enabled=flags.bf16, cache_enabled=False):
        return F.cross_entropy(net(images), labels)


class EagerStep:
    """One training step per call, from θ0 ⊙ m: M2 (`fused` False: a multiply per layer, Adam's default) or
    M3 (one foreach multiply by float masks, fused Adam on CUDA)."""

    def __init__(self, setup: Setup, flags: Flags, fused: bool) -> None:
        self.setup, self.flags, self.fused = setup, flags, fused
        self.net, self.weights, self.bool_masks = prepared(setup, flags)
        self.float_masks = [m.to(self.weights[0].dtype) for m in self.bool_masks]
        cuda = {"fused": True} if fused and setup.device.type == "cuda" else {}
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=setup.lr, **cuda)

    def __call__(self, index: torch.Tensor) -> None:
        loss_of(self.net, self.setup, index, self.flags).backward()
        grads = [w.grad for w in self.weights]
        if self.fused:
            torch._foreach_mul_(grads, self.float_masks)
        else:
            for grad, mask in zip(grads, self.bool_masks, strict=True):
                grad.mul_(mask)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def eager(setup: Setup, rows: torch.Tensor, flags: Flags, fused: bool, warmup: int) -> Run:
    """`EagerStep` over `rows`."""
    step = EagerStep(setup, flags, fused)
    with applied(flags):
        for index in rows[:warmup]:
            step(index)
        seconds = timed(setup.device, lambda: [step(index) for index in rows[warmup:]])
    return Run(1000 * seconds / (len(rows) - warmup), [w.detach().clone() for w in step.weights])


def graph(setup: Setup, rows: torch.Tensor, flags: Flags, warmup: int) -> Run:
    """M4 over `rows` (CUDA only): `warmup` eager steps on a side stream, as capture requires, then the whole
    step captured once and replayed for every further batch (only its index is copied in)."""
    net, weights, bool_masks = prepared(setup, flags)
    float_masks = [m.to(weights[0].dtype) for m in bool_masks]
    optimizer = torch.optim.Adam(net.parameters(), lr=setup.lr, fused=True, capturable=True)
    static_index = rows[0].clone()

    def step() -> None:
        loss_of(net, setup, static_index, flags).backward()
        torch._foreach_mul_([w.grad for w in weights], float_masks)
        optimizer.step()

    with applied(flags):
        side = torch.cuda.Stream(setup.device)
        side.wait_stream(torch.cuda.current_stream(setup.device))
        with torch.cuda.stream(side):
            for index in rows[:warmup]:
                static_index.copy_(index)
                optimizer.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream(setup.device).wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)  # backward writes the gradients into the graph's own memory
        with torch.cuda.graph(captured):
            step()

        def replays() -> None:
            for index in rows[warmup:]:
                static_index.copy_(index)
                captured.replay()

        seconds = timed(setup.device, replays)
    return Run(1000 * seconds / (len(rows) - warmup), [w.detach().clone() for w in weights])
