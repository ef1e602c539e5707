"""The Ray executor: every trial a Ray task, on a local Ray cluster or on the cluster at RAY_ADDRESS.

The dataset travels once, through Ray's object store, so workers need no data files; our package travels
as a runtime-env module, so a cluster only needs the dependencies installed. Each worker logs its trial
to the tracking store itself; its summary lines (a line per round and per epoch) reach the driver through a
small actor and print above one progress bar of finished trials, shown on a terminal. A worker that dies is
retried (bounded) and resumes its run; a trial that fails for good is reported with its error while the
others go on; Ctrl-C cancels every task.

On the local cluster the driver starts (no RAY_ADDRESS) a trial is claimed only when a slot frees up, so its
run starts when its training can and the UI's Duration is its training time. On the cluster at RAY_ADDRESS
every trial is claimed at once: a cluster that autoscales grows on the demand it sees.

A trial trains on the GPU Ray assigned it, in a worker of its own, or on the CPU when given none
(`remote_trial`, `lottery.training.device.assigned_device`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlparse

import ray
import torch
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tqdm import tqdm

import lottery
from lottery.data.datamodule import on_device
from lottery.data.dataset import Dataset
from lottery.errors import UserError, first_line
from lottery.execution.ray_settings import RaySettings, check_store_shared
from lottery.execution.trial import TrialOutcome, TrialTask, failure
from lottery.execution.trial_hooks import TrialHook
from lottery.execution.worker_lines import WorkerLines
from lottery.tracking import store
from lottery.tracking.trial_record import end_run
from lottery.training.device import assigned_device
from lottery.training.verdict import Verdict

# How often the driver prints the workers' lines and updates the bar, in seconds.
_POLL_SECONDS = 0.5
_CANCEL_GRACE_SECONDS = 10


def train_trial(
    task: TrialTask, dataset: Dataset, tracking_uri: str, threads: int, lines, hooks: Sequence[TrialHook]
) -> Verdict:
    """The Ray task: run `task` with `threads` torch threads on the device Ray assigned it and the driver's
    `hooks`, sending its summary lines to `lines` (a `WorkerLines` actor)."""
    torch.set_num_threads(threads)
    try:
        device = assigned_device(ray.get_gpu_ids())
        client = store.connect(tracking_uri)
        # Fire and forget: a worker blocked in ray.get lends its CPU to another trial, oversubscribing.
        # No bars in a worker (its output is no terminal, and not forwarded): a line per epoch instead.
        on_it = on_device(dataset, device)
        return task.run(on_it, client, lines.put.remote, show_progress=False, hooks=hooks)
    finally:
        ray.get(lines.flush.remote())


class RayExecutor:
    """An `Executor`: every task a Ray task on the cluster of `settings`, with `hooks` (pickled to its
    worker); `say` prints above one bar of finished trials when `show_progress`."""

    def __init__(
        self,
        settings: RaySettings,
        dataset: Dataset,
        client,
        say: Callable[[str], None],
        show_progress: bool,
        hooks: Sequence[TrialHook] = (),
    ) -> None:
        self.settings, self.dataset, self.client = settings, dataset, client
        self.say, self.show_progress, self.hooks = say, show_progress, tuple(hooks)

    def run(self, tasks: Iterable[TrialTask], done: Callable[[str], None]) -> list[TrialOutcome]:
        """Run the tasks as Ray tasks, claiming them as slots free up (see the module docstring), and collect
        the outcomes; a finished task's lease is released (`done`). The Ray connection ends with the call;
        on Ctrl-C or a failure the leases still held stay so, for the driver to abandon."""
        tasks = iter(tasks)
        first = next(tasks, None)
        if first is None:
            return []
        settings, client = self.settings, self.client
        _connect(settings)
        try:
            if _spans_machines():
                check_store_shared(client.tracking_uri, settings.cluster)
                _check_artifacts_shared(client, first, settings.cluster)
            (cpus, gpus), threads, at_once = _task_resources(settings, self.say)
            # On the driver's node: a worker node that dies must not take the lines of the others with it.
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            lines = ray.remote(WorkerLines).options(num_cpus=0, scheduling_strategy=here).remote()
            dataset_ref = ray.put(self.dataset)
            remote = remote_trial(train_trial, cpus, gpus, settings.max_retries)
            slots = max(at_once, 1) if settings.address is None else math.inf
            pending: dict = {}

            def submit(task: TrialTask) -> None:
                ref = remote.remote(task, dataset_ref, client.tracking_uri, threads, lines, self.hooks)
                pending[ref] = task

            def refill() -> None:
                """Claim and submit tasks until every slot is taken or none is left."""
                while len(pending) < slots and (task := next(tasks, None)) is not None:
                    submit(task)

            submit(first)
            refill()
            return _collect(pending, refill, done, lines, client, self.say, self.show_progress)
        finally:
            ray.shutdown()


def remote_trial(function: Callable, cpus: float, gpus: float, max_retries: int):
    """`function` as the Ray remote function of a trial taking `cpus` CPUs and `gpus` GPUs.

    A task given GPUs runs in a worker of its own (`max_calls=1`): a reused worker would keep the CUDA device
    it started first while Ray assigns its next task another GPU. Ray sets that default only for resources
    given to `ray.remote` itself, never through `.options`, so they are given here. A task given none sees no
    GPU (CUDA_VISIBLE_DEVICES empty, which Ray leaves as the node has it for such a task): it never trains on
    a GPU outside Ray's accounting."""
    options = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": max_retries}
    if gpus:
        options["max_calls"] = 1
    else:
        options["runtime_env"] = {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}
    return ray.remote(**options)(function)


def _connect(settings: RaySettings) -> None:
    # Workers receive the MLflow settings of the driver (credentials, timeouts) with the package.
    runtime_env = {
        "py_modules": [lottery],
        "env_vars": {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")},
    }
    local = {"include_dashboard": False} if not settings.address else {}
    try:
        ray.init(
            address=settings.address or "local",
            runtime_env=runtime_env,
            log_to_driver=False,  # workers' lines come through `WorkerLines`, printed above the bar
            logging_level=logging.ERROR,
            **local,
        )
    except Exception as error:  # ConnectionError, TimeoutError, RuntimeError: all mean unreachable
        raise UserError(
            f"cannot start or reach {settings.cluster} ({first_line(error)}); check RAY_ADDRESS, "
            "or unset it to start a local cluster"
        ) from None


def _check_artifacts_shared(client, task: TrialTask, cluster: str) -> None:
    """UserError if the experiment keeps artifacts in a local folder (it was created without a server):
    workers on other machines would write the tickets to their own disks."""
    location = client.get_run(task.run_id).info.artifact_uri
    if urlparse(location).scheme in ("", "file"):
        raise UserError(
            f"EXECUTOR=ray on {cluster}: experiment '{task.config.dataset}' keeps its artifacts in the local "
            f"folder {location}, which workers on other machines cannot write; point the server at a fresh "
            "BACKEND_STORE_URI, so that the experiment is created through it"
        )


def _alive_nodes() -> list[dict]:
    return [node for node in ray.nodes() if node["Alive"]]


def _spans_machines() -> bool:
    here = ray.util.get_node_ip_address()
    return any(node["NodeManagerAddress"] != here for node in _alive_nodes())


def _task_resources(
    settings: RaySettings, say: Callable[[str], None]
) -> tuple[tuple[float, float], int, int]:
    """The CPUs and GPUs of a trial task, its torch threads and how many trials the cluster runs at once;
    UserError if no node of a local cluster can run one (a remote cluster may be autoscaling, so there it is
    a warning)."""
    total = ray.cluster_resources()
    gpus = settings.gpus_per_trial
    if gpus is None:
        gpus = 0.25 if total.get("GPU", 0) > 0 else 0.0
    cpus = settings.cpus_per_trial
    largest = {
        kind: max(node["Resources"].get(kind, 0) for node in _alive_nodes()) for kind in ("CPU", "GPU")
    }
    if cpus > largest["CPU"] or gpus > largest["GPU"]:
        message = (
            f"no node of {settings.cluster} has {cpus:g} CPUs and {gpus:g} GPUs for a trial "
            f"(the largest has {largest['CPU']:g} and {largest['GPU']:g}); "
            "lower CPUS_PER_TRIAL or GPUS_PER_TRIAL"
        )
        if not settings.address:
            raise UserError(message)
        say(f"warning: {message}, unless the cluster scales up")
    at_once = math.floor(total.get("CPU", 0) / cpus)
    if gpus:
        at_once = min(at_once, math.floor(total.get("GPU", 0) / gpus))
    threads = max(1, int(cpus))
    say(
        f"ray: {len(_alive_nodes())} node(s), {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; "
        f"each trial takes {cpus:g} CPU and {gpus:g} GPU and trains with {threads} torch "
        f"thread{'s' if threads > 1 else ''}, {at_once} at once; a trial whose worker dies is retried "
        f"{settings.max_retries} times"
    )
    return (cpus, gpus), threads, at_once


def _collect(
    pending: dict,
    refill: Callable[[], None],
    done: Callable[[str], None],
    lines,
    client,
    say: Callable[[str], None],
    show_progress: bool,
) -> list[TrialOutcome]:
    """The outcomes of the `pending` tasks (ref -> task), which `refill` tops up as each one ends; `done`
    releases an ended task's lease."""
    outcomes = []
    label = next(iter(pending.values())).config.dataset
    # On stdout, with the lines; `show_progress` says whether that is a terminal (`progress_bars`).
    with tqdm(
        total=len(pending), desc=f"{label} trials", unit="trial", file=sys.stdout, disable=not show_progress
    ) as bar:
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL_SECONDS)
                _print_lines(lines, say)
                for ref in ready:
                    outcome, cause, trace = _outcome(ref, pending.pop(ref))
                    if cause is not None:
                        store.raise_if_lost(client, cause)
                        if trace is not None:  # a bug or a crash: keep the worker's traceback for the report
                            say(trace)
                        end_run(client, outcome.task.run_id, cause)  # its worker may have died first
                        say(f"{outcome.task.label} failed: {outcome.error}")
                    outcomes.append(outcome)
                    done(outcome.task.run_id)
                    refill()
                    bar.total = len(outcomes) + len(pending)
                    bar.update()
        except BaseException:  # Ctrl-C, or a lost store: nothing more is to run
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.wait(list(pending), num_returns=len(pending), timeout=_CANCEL_GRACE_SECONDS)
            raise
    return outcomes


def _print_lines(lines, say: Callable[[str], None]) -> None:
    for line in ray.get(lines.take.remote()):
        say(line)


def _outcome(ref, task: TrialTask) -> tuple[TrialOutcome, BaseException | None, str | None]:
    """How the task ended; what stopped it, if anything; and the worker's traceback when that was something
    other than a user error."""
    try:
        return TrialOutcome(task, verdict=ray.get(ref)), None, None
    except RayTaskError as error:
        cause = error.cause if isinstance(error.cause, BaseException) else error
        return failure(task, cause), cause, None if isinstance(cause, UserError) else str(error).rstrip()
    except RayError as error:  # the worker died more often than retried, or the task was cancelled
        return failure(task, error), error, None
