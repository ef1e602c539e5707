"""One trial's MLflow run: what the tracking contract records, and what resuming reads back.

Round r is complete once its metrics are logged; the mask round r + 1 trains (`rounds/<r+1>/mask.npz`)
is logged before them, so a complete round always leaves what the next one needs in the store. The same
record writes `make train`'s runs and the runs of `lottery.IterativeMagnitudePruning` in a user's own
`MLFlowLogger` run (`describe` gives those the contract's tags and params).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag

from lottery import models
from lottery.data.dataset import Dataset
from lottery.errors import UserError
from lottery.hparams import ExperimentConfig
from lottery.pruning import mask as masks
from lottery.pruning.controls import Control, Start
from lottery.tracking import contract, store
from lottery.tracking.arrays import load_arrays, save_arrays
from lottery.tracking.lease import check_held
from lottery.tracking.run_names import trial_run_name


def init_id(theta0: dict[str, torch.Tensor]) -> str:
    """The `lottery.init` tag: a digest of θ0's bytes, layer by layer in forward order (the dict's order), so
    equal ids ⇔ identical initial weights."""
    sha = hashlib.sha256()
    for weight in theta0.values():
        sha.update(weight.contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


class TrialRecord:
    """The MLflow run of trial `trial` of an experiment configuration (found by tags, or created)."""

    def __init__(self, client, run, generation: int | None = None) -> None:
        """The record of `run` (an MLflow `Run`); with `generation`, every write first checks that this lease
        generation still holds the run (`lottery.tracking.lease.LeaseLost` otherwise)."""
        self.client, self.generation = client, generation
        self.run_id, self.name, self.artifact_uri = run.info.run_id, run.info.run_name, run.info.artifact_uri
        self._layer_names: tuple[str, ...] | None = None

    @property
    def source(self) -> str:
        return store.run_source(self.name, self.run_id)

    def layer_names(self) -> tuple[str, ...]:
        """The prunable layers of the run's model (param `model`; runs before that param: Conv-2), read once:
        a param never changes."""
        if self._layer_names is None:
            params = self.client.get_run(self.run_id).data.params
            model = params.get(contract.PARAM_MODEL, contract.LEGACY_MODEL)
            self._layer_names = models.spec(model).layer_names
        return self._layer_names

    def _before_write(self) -> None:
        if self.generation is not None:
            check_held(self.client, self.run_id, self.generation)

    @classmethod
    def runs_of(cls, client, experiment_id: str, config: ExperimentConfig, trial: int) -> list:
        """The MLflow runs (not deleted) of this trial and configuration, the newest first."""
        return client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_TRIAL}' and "
                f"tags.`{contract.TAG_CONFIG}` = '{config.config_id()}' and "
                f"tags.`{contract.TAG_TRIAL}` = '{trial}'"
            ),
            order_by=["attributes.start_time DESC"],
        )

    @classmethod
    def open(cls, client, run_id: str, generation: int | None = None) -> TrialRecord:
        """The record of run `run_id`, as `TrialRecord(client, run, generation)`."""
        return cls(client, client.get_run(run_id), generation)

    @classmethod
    def create(
        cls,
        client,
        experiment_id: str,
        config: ExperimentConfig,
        trial: int,
        theta0: dict[str, torch.Tensor],
        dataset: Dataset,
    ) -> TrialRecord:
        """A new run with the contract's tags (θ0's digest among them), every hyperparameter and the
        dataset's provenance. θ0 itself is logged by `ensure_theta0`, so an interrupted creation resumes."""
        tags = {
            contract.TAG_ROLE: contract.ROLE_TRIAL,
            contract.TAG_DATASET: config.dataset,
            contract.TAG_TRIAL: str(trial),
            contract.TAG_INIT: init_id(theta0),
            contract.TAG_CONFIG: config.config_id(),
            contract.TAG_REWIND_STEP: str(config.pruning.rewind_step),
        }
        run = client.create_run(experiment_id, tags=tags, run_name=trial_run_name(config, trial))
        record = cls(client, run)
        params = [Param(k, v) for k, v in {**config.params(), contract.PARAM_TRIAL: str(trial)}.items()]
        client.log_batch(record.run_id, params=params)
        record.log_dataset(dataset)
        return record

    def describe(self, tags: dict[str, str], params: dict[str, str]) -> None:
        """Give an existing run (a user's `MLFlowLogger` run) the contract's `tags` and `params`. UserError
        naming the clash if the run already holds one of these params with another value (MLflow never
        changes a param), e.g. a hyperparameter the user's model saved under the same name."""
        self._before_write()
        held = self.client.get_run(self.run_id).data.params
        clashes = [f"{k}={held[k]!r} (IMP logs {v!r})" for k, v in params.items() if held.get(k, v) != v]
        if clashes:
            raise UserError(
                f"run {self.name} already holds param(s) {', '.join(clashes)}; rename those hyperparameters "
                "of yours, or give IterativeMagnitudePruning the same values"
            )
        new = [Param(k, v) for k, v in params.items() if k not in held]
        self.client.log_batch(self.run_id, params=new, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_dataset(self, dataset: Dataset) -> None:
        entity = DatasetEntity(
            name=dataset.name,
            digest=dataset.digest(),
            source_type="local",
            source=json.dumps({"source": dataset.source}),
            profile=json.dumps({"train": len(dataset.train), "test": len(dataset.test)}),
        )
        inputs = [DatasetInput(entity, [InputTag("mlflow.data.context", "train")])]
        try:
            self.client.log_inputs(self.run_id, inputs)
        except store.store_errors():
            # Two drivers logging the experiment's first copy of a dataset at once: MLflow inserts the
            # dataset row without a lock, and the loser hits the unique constraint. The row exists now.
            self.client.log_inputs(self.run_id, inputs)

    def schedule(self) -> None:
        """Mark the run SCHEDULED: a task will train it (RUNNING from the moment a worker starts it)."""
        self.client.update_run(self.run_id, status="SCHEDULED")

    def reopen(self) -> None:
        self.client.update_run(self.run_id, status="RUNNING")

    def metric_steps(self, key: str) -> dict[int, float]:
        return {m.step: m.value for m in self.client.get_metric_history(self.run_id, key)}

    def completed_rounds(self) -> int:
        """How many rounds 0, 1, … in a row have their metrics logged."""
        steps = self.metric_steps(contract.TEST_ACC)
        count = 0
        while count in steps:
            count += 1
        return count

    def log_arrays(self, artifact: str, arrays: dict[str, np.ndarray]) -> None:
        self._before_write()
        path = Path(artifact)
        with tempfile.TemporaryDirectory() as tmp:
            local = save_arrays(Path(tmp) / path.name, arrays)
            self.client.log_artifact(self.run_id, str(local), artifact_path=str(path.parent))

    def has_artifact(self, artifact: str) -> bool:
        listed = store.list_artifacts(self.client, self, str(Path(artifact).parent))
        return any(f.path == artifact for f in listed)

    def load_arrays(self, artifact: str, dtype) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            local = store.download_artifact(self.client, self, artifact, tmp)
            return load_arrays(local, self.layer_names(), dtype, source=self.source)

    def ensure_theta0(self, theta0: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """θ0 as the run stores it; `theta0` is logged first when the run has none yet."""
        if not self.has_artifact(contract.INIT_ARTIFACT):
            self.log_arrays(contract.INIT_ARTIFACT, {name: w.numpy() for name, w in theta0.items()})
            return theta0
        stored = self.load_arrays(contract.INIT_ARTIFACT, np.float32)
        return {name: torch.from_numpy(array) for name, array in stored.items()}

    def load_mask(self, artifact: str) -> masks.Mask:
        return masks.from_numpy(self.load_arrays(artifact, np.bool_))

    def log_round(
        self,
        round_index: int,
        mask: masks.Mask,
        next_mask: masks.Mask | None,
        evaluation: dict[str, float],
        rewind_point: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Round r, which trained `mask`: θ_k (`rewind_point`, late rewinding: given with round 0), then the
        mask round r + 1 trains, then — marking the round complete — the metrics at step r: `evaluation`
        (`test_acc`, `test_loss`, `training_seconds`), `sparsity` and `remaining.<layer>`."""
        if rewind_point is not None:
            self.log_arrays(contract.REWIND_ARTIFACT, {name: w.numpy() for name, w in rewind_point.items()})
        if next_mask is not None:
            self.log_arrays(contract.round_mask_artifact(round_index + 1), masks.to_numpy(next_mask))
        values = {
            **evaluation,
            contract.SPARSITY: masks.sparsity(mask),
            **{contract.remaining_metric(k): v for k, v in masks.remaining_fraction(mask).items()},
        }
        self.log_metrics(values, step=round_index)

    def log_control(self, control: Control, start: Start, acc: float, loss: float, step: int) -> None:
        """A trained control: its artifact, then its metrics at step `step` = R (last: they mark it done)."""
        self.log_arrays(control.artifact, control.recorded(start))
        self.log_metrics({control.acc_metric: acc, control.loss_metric: loss}, step=step)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self._before_write()
        now = store.now_ms()
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()]
        )

    def finish(self, final_mask: masks.Mask, winning: bool, verdict: str) -> None:
        """Log the final ticket's mask (`ticket/winning_mask.npz`), tag the verdict (`lottery.winning`,
        `lottery.verdict`, with `lottery.role=trial`: a run becomes a ticket only here) and mark the run
        FINISHED."""
        self.log_arrays(contract.WINNING_MASK_ARTIFACT, masks.to_numpy(final_mask))
        self._before_write()
        tags = [
            RunTag(contract.TAG_ROLE, contract.ROLE_TRIAL),
            RunTag(contract.TAG_WINNING, str(winning).lower()),
            RunTag(contract.TAG_VERDICT, verdict),
        ]
        self.client.log_batch(self.run_id, tags=tags)
        self.client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.FINISHED))


def end_run(client, run_id: str, reason: BaseException) -> bool:
    """End the run of a trial that `reason` stopped, the one way a run ends unfinished: KILLED when `reason`
    is Ctrl-C or SIGTERM (`KeyboardInterrupt`), FAILED for anything else (an error, a worker that died), and
    only while the run is SCHEDULED or RUNNING (a finished run stays FINISHED). Re-running resumes it.

    False, leaving the run as it is, when the store fails: the error that stopped the trial is the one to
    report, and the re-run resumes the run whatever its status."""
    status = "KILLED" if isinstance(reason, KeyboardInterrupt) else "FAILED"
    try:
        if client.get_run(run_id).info.status in ("SCHEDULED", "RUNNING"):
            client.set_terminated(run_id, status)
    except store.store_errors():
        return False
    return True
