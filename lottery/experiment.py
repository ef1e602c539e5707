"""An experiment: `trials` IMP trials of one configuration on one dataset, each in its own MLflow run.

Idempotent: finished trials are skipped, unfinished ones resume in their run. The driver finds or creates
every trial's run (SCHEDULED) before any training, so executors only resume runs and concurrent workers
never open two runs for one trial. A trial interrupted by Ctrl-C ends KILLED, one that crashed FAILED;
neither is ever marked FINISHED.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from lottery import tracking
from lottery.data.datamodule import on_device
from lottery.data.dataset import Dataset
from lottery.data.registry import load_dataset
from lottery.device import training_device
from lottery.hparams import ExperimentConfig
from lottery.local_executor import run_locally
from lottery.ray_settings import RaySettings
from lottery.trial import theta0_for
from lottery.trial_record import TrialRecord
from lottery.trial_task import TrialOutcome, TrialTask


def run_experiment(
    config: ExperimentConfig,
    data_dir: str,
    tracking_uri: str | None = None,
    ray: RaySettings | None = None,
    say: Callable[[str], None] = tqdm.write,
    show_progress: bool = True,
) -> list[TrialOutcome]:
    """Run every unfinished trial, here (`ray` None) or as Ray tasks; return their outcomes."""
    config.validate()
    uri = tracking.resolve_tracking_uri(tracking_uri)
    if ray is not None:
        ray.validate(uri)  # before anything slow: a refused setup fails in a second
    client = tracking.connect(uri)
    dataset = load_dataset(config.dataset, data_dir, config.train_splits)
    say(
        f"{config.dataset}: {len(dataset.train)} train / {len(dataset.test)} test images, "
        f"config {config.config_id()}, store {client.tracking_uri}"
    )
    tasks = schedule(client, config, dataset, say)
    if not tasks:
        return []
    try:
        if ray is None:
            device = training_device()
            say(f"{config.dataset}: {len(tasks)} trials one after another on {device}")
            return run_locally(tasks, on_device(dataset, device), client, say, show_progress)
        from lottery.ray_executor import run_on_ray  # Ray loads only when asked for

        return run_on_ray(tasks, dataset, client, ray, say, show_progress)
    except BaseException as error:  # Ctrl-C, or the executor itself failed (e.g. Ray did not start)
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        for task in tasks:
            TrialRecord.open(client, task.run_id).abandon(status)
        raise


def schedule(
    client, config: ExperimentConfig, dataset: Dataset, say: Callable[[str], None]
) -> list[TrialTask]:
    """A task for every trial without a FINISHED run, bound to its existing run or a new one, marked
    SCHEDULED."""
    experiment_id = tracking.experiment_id(client, config.dataset)
    tasks = []
    for index in range(config.trials):
        record = TrialRecord.find(client, experiment_id, config, index)
        if record is None:
            record = TrialRecord.create(
                client, experiment_id, config, index, theta0_for(config.seed, index), dataset
            )
        elif record.status == "FINISHED":
            say(f"{config.dataset} trial {index + 1}/{config.trials}: finished in {record.name}, skipped")
            continue
        record.schedule()
        tasks.append(TrialTask(config, index, record.run_id))
    return tasks
