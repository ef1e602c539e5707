"""Every random choice of a trial derives from (SEED, trial, stream, …) through numpy's SeedSequence.

Trial k's θ0 depends on (SEED, k) only, so trial k of every dataset starts from the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

INIT_STREAM = 0
IMP_BATCHES_STREAM = 1
RANDOM_TICKET_STREAM = 2
RANDOM_BATCHES_STREAM = 3


def derive(*entropy: int) -> int:
    """A 63-bit seed that depends only on `entropy`."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def torch_generator(*entropy: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(derive(*entropy))


def numpy_rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(entropy)))
