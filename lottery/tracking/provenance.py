"""What trained a trial's run: the device and its name, the versions of torch, CUDA and cuDNN, and the flags
that change its numbers (TF32, deterministic algorithms) — tags set by every session that trains the run.

Tags, not params: a run resumed on another device, or on a cluster with other versions, records the new
session's environment over the old one, where MLflow would refuse a param logged again with another value.
`lottery.devices` keeps every device that has trained the run, so a run trained on two is told apart.
"""

from __future__ import annotations

import platform

import torch
from mlflow.entities import RunTag

from lottery.tracking.contract import (
    TAG_CUDA,
    TAG_CUDNN,
    TAG_DEVICE,
    TAG_DEVICE_NAME,
    TAG_DEVICES,
    TAG_PRECISION,
    TAG_TORCH,
)

DEVICES_SEPARATOR = "; "


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"{properties.name} (sm_{properties.major}{properties.minor})"
    if device.type == "mps":
        return "Apple MPS"
    return f"{platform.machine() or 'unknown'} CPU"


def environment(device: torch.device, deterministic: bool = False) -> dict[str, str]:
    """The tags (but `lottery.devices`) of a session training on `device` in this process, with
    deterministic algorithms or not (`lottery.training.device.deterministic_algorithms`)."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        TAG_DEVICE: str(device),
        TAG_DEVICE_NAME: device_name(device),
        TAG_TORCH: torch.__version__,
        TAG_CUDA: torch.version.cuda or "none",
        TAG_CUDNN: str(cudnn) if cudnn else "none",
        TAG_PRECISION: precision(device, deterministic),
    }


def precision(device: torch.device, deterministic: bool) -> str:
    """The flags that change what float32 training computes on `device`: on CUDA, TF32 for matrix products
    and for cuDNN's convolutions (on by default for the latter, Ampere and later) and deterministic
    algorithms; elsewhere there is no TF32 (bf16 autocast is the run's param `bf16`)."""
    if device.type != "cuda":
        return "fp32"

    def on(flag: bool) -> str:
        return "on" if flag else "off"

    return (
        f"tf32 matmul {on(torch.backends.cuda.matmul.allow_tf32)}, "
        f"tf32 cudnn {on(torch.backends.cudnn.allow_tf32)}, "
        f"deterministic {on(deterministic)}"
    )


def record(client, run_id: str, tags: dict[str, str]) -> None:
    """Tag run `run_id` with a session's `environment` tags, adding its device to `lottery.devices`."""
    seen = client.get_run(run_id).data.tags.get(TAG_DEVICES, "")
    devices = [entry for entry in seen.split(DEVICES_SEPARATOR) if entry]
    this = f"{tags[TAG_DEVICE]} ({tags[TAG_DEVICE_NAME]})"
    if this not in devices:
        devices.append(this)
    logged = {**tags, TAG_DEVICES: DEVICES_SEPARATOR.join(devices)}
    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in logged.items()])
