"""Trials on Ray with real GPUs (`bench.gpu`'s check of issues 1 and 2): on a local cluster of this machine,
trial tasks made as the executor makes them (`remote_trial`) report what they see. A task given a quarter of a
GPU must see exactly the GPU Ray assigned it, as cuda:0, in a worker that served no other GPU task; a task
given no GPU must see none."""

from __future__ import annotations

import os
import tempfile

from lottery.execution.ray_executor import remote_trial

GPU_TASKS, CPU_TASKS = 4, 2


def probe() -> dict:
    """What a trial task sees: its worker, its GPUs by Ray, CUDA_VISIBLE_DEVICES, the device it trains on."""
    import ray
    import torch

    from lottery.training.device import assigned_device

    ids = [str(gpu) for gpu in ray.get_gpu_ids()]
    device = assigned_device(ids)
    return {
        "pid": os.getpid(),
        "gpu_ids": ids,
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": str(device),
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def ray_check(gpus: int) -> dict:
    """The probes on a local cluster with this machine's `gpus` GPUs: what they saw, and if that is right."""
    import ray

    ray.init(
        address="local",
        num_cpus=GPU_TASKS + CPU_TASKS,
        num_gpus=gpus,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="ray-"),  # short: Ray's socket paths are limited to 107 bytes
    )
    try:
        on_gpus = remote_trial(probe, cpus=1, gpus=0.25, max_retries=0)
        on_cpus = remote_trial(probe, cpus=1, gpus=0, max_retries=0)
        gpu_seen = ray.get([on_gpus.remote() for _ in range(GPU_TASKS)])
        cpu_seen = ray.get([on_cpus.remote() for _ in range(CPU_TASKS)])
    finally:
        ray.shutdown()
    own_workers = len({seen["pid"] for seen in gpu_seen}) == GPU_TASKS
    own_gpu = all(
        len(s["gpu_ids"]) == 1
        and s["visible"] == s["gpu_ids"][0]
        and s["device"] == "cuda:0"
        and s["cuda_devices"] == 1
        for s in gpu_seen
    )
    no_gpu = all(s["device"] == "cpu" and s["cuda_devices"] == 0 and s["visible"] == "" for s in cpu_seen)
    return {"passed": own_workers and own_gpu and no_gpu, "gpu_tasks": gpu_seen, "cpu_tasks": cpu_seen}
