"""The training device, chosen automatically: CUDA if present, else Apple's MPS, else the CPU."""

from __future__ import annotations

import torch


def training_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def deterministic_algorithms(device: torch.device) -> bool:
    """Whether training on `device` takes deterministic algorithms (`torch.use_deterministic_algorithms`, with
    cuDNN's deterministic convolutions and cuBLAS's fixed workspace): on CUDA, where cuDNN's weight-gradient
    algorithms may otherwise add in a varying order. The CPU's kernels are deterministic already; MPS has no
    such mode."""
    return device.type == "cuda"


def lightning_accelerator(device: torch.device) -> dict:
    """Trainer arguments that put training on `device`."""
    if device.type == "cuda":
        return {"accelerator": "cuda", "devices": [device.index or 0]}
    return {"accelerator": device.type, "devices": 1}
