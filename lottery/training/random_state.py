"""The global random streams a training run draws from — torch (CPU and CUDA), numpy, Python's `random` — as
plain tensors and numbers, so that a checkpoint that holds them (loaded with `weights_only=True`) resumes a
fit that draws what the uninterrupted fit drew: the same shuffles, the same dropout."""

from __future__ import annotations

import random

import numpy as np
import torch


def captured() -> dict:
    """The current state of every global stream."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": [version, list(python_state), python_gauss],
    }


def restore(state: dict) -> None:
    """Set every global stream to `state` (from `captured`); CUDA's only where it was captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_state, python_gauss = state["python"]
    random.setstate((version, tuple(python_state), python_gauss))
