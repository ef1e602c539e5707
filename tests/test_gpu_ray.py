"""Trials on a Ray node with GPUs, faked: a local cluster of this process told it has two GPUs, on a node
whose CUDA_VISIBLE_DEVICES names two (as a GPU node's may). Each trial task sees exactly the GPU Ray assigned
it, in a worker that serves no other GPU task; a task given no GPU sees none. The tasks are probes, not
trials: training needs a real GPU (`make bench-gpu` checks that)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

pytestmark = pytest.mark.ray


def probe() -> tuple[int, list[str], str | None]:
    """What a task sees: its worker's pid, its GPUs by Ray, and CUDA_VISIBLE_DEVICES."""
    import ray

    return os.getpid(), [str(gpu) for gpu in ray.get_gpu_ids()], os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.fixture(scope="module")
def two_fake_gpus():
    """A local Ray cluster told it has two GPUs. Ray is imported here, not at the top: a run that deselects
    these tests (`-m 'not ray'`) then imports no Ray to collect them (0.5 s a worker)."""
    import ray
    from ray import cloudpickle

    # Workers cannot import this module (tests/ is not on their path): its functions travel by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the node's workers inherit it
        patch.delenv("RAY_ADDRESS", raising=False)
        # Short: Ray's Unix sockets live under it, and their paths are limited to 107 bytes.
        root = tempfile.mkdtemp(prefix="ray-")
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=2,
            include_dashboard=False,
            _temp_dir=root,
            log_to_driver=False,
        )
        try:
            yield ray
        finally:
            ray.shutdown()
            shutil.rmtree(root, ignore_errors=True)


def test_each_gpu_trial_sees_its_own_gpu_in_a_worker_of_its_own(two_fake_gpus):
    from lottery.execution.ray_executor import remote_trial

    ray = two_fake_gpus
    # A quarter of a GPU each, as by default: 8 tasks, up to 8 at once on 2 GPUs (2 CPUs, 0.25 CPU each).
    remote = remote_trial(probe, cpus=0.25, gpus=0.25, max_retries=0)
    seen = ray.get([remote.remote() for _ in range(8)])
    pids = [pid for pid, _, _ in seen]
    assert len(set(pids)) == len(pids)  # no worker served two GPU tasks
    for _, gpus, visible in seen:
        assert len(gpus) == 1 and gpus[0] in ("0", "1") and visible == gpus[0]


def test_a_trial_given_no_gpu_sees_none(two_fake_gpus):
    from lottery.execution.ray_executor import remote_trial

    ray = two_fake_gpus
    remote = remote_trial(probe, cpus=1, gpus=0, max_retries=0)
    for _, gpus, visible in ray.get([remote.remote() for _ in range(3)]):
        assert gpus == [] and visible == ""
