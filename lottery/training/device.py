"""The training device: in this process, CUDA if present, else Apple's MPS, else the CPU; in a Ray task, the
GPU Ray assigned it (`ray.get_gpu_ids()`), or the CPU for a task given none."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from lottery.errors import UserError


def training_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def assigned_device(gpu_ids: Sequence[int | str]) -> torch.device:
    """The device of a Ray task given the GPUs `gpu_ids` (`ray.get_gpu_ids()`): the CPU for none, never a GPU
    outside Ray's accounting; else the first of them as this process numbers CUDA devices, its position in
    CUDA_VISIBLE_DEVICES (which Ray sets to the task's ids: cuda:0) or, with that unset, its id; on Apple
    silicon, MPS (Ray's one Apple GPU). UserError when torch reaches no GPU; RuntimeError when CUDA was
    started in this process under other visible devices (a reused worker: its GPU is not the one assigned).
    """
    if not gpu_ids:
        return torch.device("cpu")
    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        order = (
            visible.split(",") if visible is not None else [str(i) for i in range(torch.cuda.device_count())]
        )
        if torch.cuda.device_count() != len(order) or str(gpu_ids[0]) not in order:
            raise RuntimeError(
                f"Ray assigned GPU {gpu_ids[0]} (CUDA_VISIBLE_DEVICES={visible}), but this process's CUDA "
                f"sees {torch.cuda.device_count()} devices: it was started under other visible devices"
            )
        return torch.device("cuda", order.index(str(gpu_ids[0])))
    if torch.backends.mps.is_available():
        return torch.device("mps")
    raise UserError(
        f"Ray assigned GPU {gpu_ids[0]} to a trial, but torch {torch.__version__} there reaches no GPU "
        "(a build without CUDA?); install a CUDA build of torch on the cluster's GPU nodes, or set "
        "GPUS_PER_TRIAL=0"
    )


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
