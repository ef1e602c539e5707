"""An experiment: `trials` IMP trials of one configuration on one dataset, each in its own MLflow run.

Idempotent: finished trials are skipped, unfinished ones resume in their run. A trial interrupted by
Ctrl-C is marked KILLED, one that crashed FAILED; neither is ever marked FINISHED.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from lottery import tracking
from lottery.data.datamodule import on_device
from lottery.data.registry import load_dataset
from lottery.device import training_device
from lottery.hparams import ExperimentConfig
from lottery.trial import Trial, theta0_for
from lottery.trial_record import TrialRecord


def run_experiment(
    config: ExperimentConfig,
    data_dir: str,
    tracking_uri: str | None = None,
    say: Callable[[str], None] = tqdm.write,
    show_progress: bool = True,
) -> dict[int, bool]:
    """Run every unfinished trial; return trial index → winning, for the trials of this configuration."""
    config.validate()
    client = tracking.connect(tracking_uri)
    dataset = load_dataset(config.dataset, data_dir, config.train_splits)
    device = training_device()
    say(
        f"{config.dataset}: {len(dataset.train)} train / {len(dataset.test)} test images, device {device}, "
        f"config {config.config_id()}, store {client.tracking_uri}"
    )
    dataset_on_device = on_device(dataset, device)
    experiment_id = tracking.experiment_id(client, config.dataset)
    verdicts: dict[int, bool] = {}
    for index in range(config.trials):
        record = TrialRecord.find(client, experiment_id, config, index)
        if record is not None and record.status == "FINISHED":
            say(f"{config.dataset} trial {index + 1}/{config.trials}: finished in {record.name}, skipped")
            continue
        if record is None:
            record = TrialRecord.create(
                client, experiment_id, config, index, theta0_for(config.seed, index), dataset
            )
        else:
            say(
                f"{config.dataset} trial {index + 1}/{config.trials}: resuming {record.name} "
                f"after {record.completed_rounds()} completed rounds"
            )
            record.reopen()
        trial = Trial(config, index, dataset_on_device, record, say, show_progress)
        try:
            verdicts[index] = trial.run()
        except KeyboardInterrupt:
            record.abort("KILLED")
            raise
        except BaseException:
            record.abort("FAILED")
            raise
    return verdicts
