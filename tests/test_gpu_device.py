"""The device of a Ray trial follows `ray.get_gpu_ids()`: the CPU for a task given no GPU, even where CUDA is
present; else the assigned GPU as this process numbers it. CUDA is faked: torch's answers are patched."""

from __future__ import annotations

import pytest
import torch

from lottery.errors import UserError
from lottery.training.device import assigned_device


@pytest.fixture
def cuda(monkeypatch):
    """A process whose torch sees `cuda.count` CUDA devices, CUDA_VISIBLE_DEVICES unset."""

    class Cuda:
        count = 2

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: Cuda.count)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return Cuda


def test_a_task_given_no_gpu_trains_on_the_cpu_even_beside_one(cuda):
    assert assigned_device([]) == torch.device("cpu")


def test_the_assigned_gpu_is_cuda_0_under_the_visible_devices_ray_sets(cuda, monkeypatch):
    cuda.count = 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert assigned_device([3]) == torch.device("cuda", 0)


def test_the_assigned_gpu_keeps_its_place_among_the_visible_devices(cuda, monkeypatch):
    cuda.count = 4
    assert assigned_device(["2"]) == torch.device("cuda", 2)  # Ray told not to set CUDA_VISIBLE_DEVICES
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-a,GPU-b")
    cuda.count = 2
    assert assigned_device(["GPU-b"]) == torch.device("cuda", 1)


def test_a_process_that_started_cuda_under_other_devices_is_refused(cuda, monkeypatch):
    cuda.count = 2  # CUDA started while both GPUs were visible; Ray has since narrowed the variable
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(RuntimeError, match="other visible devices"):
        assigned_device(["1"])


def test_a_gpu_torch_cannot_reach_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match="GPUS_PER_TRIAL=0"):
        assigned_device([0])
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert assigned_device([0]) == torch.device("mps")
