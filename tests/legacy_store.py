"""A tracking store laid out exactly as the code of commit 94a7db9 writes it, built with raw MLflow calls.

This is what stores written before a change of the tracking code hold, so it is frozen on purpose: it
imports nothing from `lottery` or `analysis` and must not be "updated" when their code changes (README,
"Tracking contract", as of that commit). A trial run holds:

- experiment `<dataset>`, artifact location `file://<store dir>/artifacts/<dataset>`, experiment tag
  `mlflow.experimentKind=custom_model_development`;
- run `<dataset>/trial-<kk>`, tags `lottery.role=trial`, `lottery.dataset`, `lottery.trial`, `lottery.init`
  (sha256 of θ0's bytes in layer order, 16 hex), `lottery.config` (sha256 of the sorted JSON of the params
  but `trials`, 12 hex), `lottery.lease` (`<g> <holder> <expiry ms>`, expiry 0 once released) and, once
  finished, `lottery.winning` and `lottery.verdict`;
- params: every hyperparameter, `trial`, and `lottery.lease.<g>` = `<holder> <claimed ms>`;
- the dataset as its input (name, 16-hex digest, source, split sizes, context `train`);
- metrics at step r (round r): `test_acc`, `test_loss`, `sparsity`, `remaining.<layer>`; at step R
  `random_test_acc`, `random_test_loss`;
- artifacts (`.npz`, one array per layer, keyed in layer order): `ticket/init.npz` (float32 θ0),
  `rounds/<r>/mask.npz` (bool, r ≥ 1: the mask round r trains, logged before round r - 1's metrics),
  `ticket/random_mask.npz`, `ticket/winning_mask.npz`.

Every random array comes from numpy's seeded Generator: θ0 is Glorot-normal-like, not the θ0 today's code
derives for (seed, trial), and masks are nested random masks with the paper's per-round counts (not
magnitude pruning). The readers (analysis, resuming) take both from the store, whatever they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

# Conv-2's prunable layers in forward order, in PyTorch layout.
LAYERS: dict[str, tuple[int, ...]] = {
    "conv1": (64, 3, 3, 3),
    "conv2": (64, 64, 3, 3),
    "dense1": (256, 16384),
    "dense2": (256, 256),
    "output": (10, 256),
}
RATE_GROUP = {"conv1": "conv_rate", "conv2": "conv_rate", "dense1": "dense_rate", "dense2": "dense_rate"}

# The digits dataset as today's code logs it as a run input (its digest: the one `digits` has today).
DIGITS_INPUT = {"name": "digits", "digest": "ee1c9f6a0bff2788", "source": "sklearn.datasets.load_digits"}
DIGITS_SIZES = {"train": 1437, "test": 360}

HOLDER = "legacy-host:4242:0a1b2c"  # the driver that wrote the store: another machine, lease released
INIT_ARTIFACT = "ticket/init.npz"
WINNING_MASK_ARTIFACT = "ticket/winning_mask.npz"
RANDOM_MASK_ARTIFACT = "ticket/random_mask.npz"


def round_mask_artifact(round_index: int) -> str:
    return f"rounds/{round_index}/mask.npz"


def hyperparameters(
    dataset: str = "digits",
    trials: int = 20,
    seed: int = 0,
    epochs: int = 10,
    batch_size: int = 60,
    lr: float = 2e-4,
    bf16: bool = False,
    rounds: int = 11,
    conv_rate: float = 0.1,
    dense_rate: float = 0.2,
    output_rate: float = 0.1,
    winning_tolerance: float = 1.0,
    train_splits: str = "train",
) -> dict[str, str]:
    """The params a trial run logs for a configuration (the defaults are the CLI's), in today's order."""
    flat = {
        "dataset": dataset,
        "trials": trials,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "bf16": bf16,
        "rounds": rounds,
        "conv_rate": conv_rate,
        "dense_rate": dense_rate,
        "output_rate": output_rate,
        "winning_tolerance": winning_tolerance,
        "train_splits": train_splits,
        "model": "conv2",
        "init": "glorot_normal",
        "optimizer": "adam",
    }
    return {key: str(value) for key, value in flat.items()}


def config_digest(params: dict[str, str]) -> str:
    """The `lottery.config` tag: every hyperparameter but the number of trials, hashed."""
    rest = {key: value for key, value in params.items() if key != "trials"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]


# Two configurations and their `lottery.config`, as today's `ExperimentConfig.config_id()` gives it (obtained
# once from that code): a change of the params or of the digest must keep reading stores tagged so.
ANALYSED = hyperparameters(trials=3, rounds=1, epochs=1)  # --dataset digits --trials 3 --rounds 1 --epochs 1
ANALYSED_DIGEST = "62128a828e8b"
RESUMED = hyperparameters(trials=1, rounds=2, epochs=1)  # --dataset digits --trials 1 --rounds 2 --epochs 1
RESUMED_DIGEST = "f6b95e71a93e"


def init_digest(theta0: dict[str, np.ndarray]) -> str:
    """The `lottery.init` tag: θ0's bytes in layer order, hashed."""
    sha = hashlib.sha256()
    for name in LAYERS:
        sha.update(np.ascontiguousarray(theta0[name]).tobytes())
    return sha.hexdigest()[:16]


def glorot_theta0(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A float32 θ0 with Glorot-normal scales: std = sqrt(2 / (fan_in + fan_out))."""
    theta0 = {}
    for name, shape in LAYERS.items():
        receptive = math.prod(shape[2:])
        std = math.sqrt(2.0 / (shape[1] * receptive + shape[0] * receptive))
        theta0[name] = (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)
    return theta0


def number_to_prune(remaining: int, rate: float) -> int:
    """The paper's per-round count: round(rate · remaining), half up."""
    return math.floor(rate * remaining + 0.5)


def nested_masks(params: dict[str, str], rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Masks of rounds 0..R: all-True, then each drops the per-round count of the previous one's weights."""
    masks = [{name: np.ones(shape, dtype=bool) for name, shape in LAYERS.items()}]
    for _ in range(int(params["rounds"])):
        following = {}
        for name, previous in masks[-1].items():
            kept = np.flatnonzero(previous)
            rate = float(params[RATE_GROUP.get(name, "output_rate")])
            drop = rng.choice(kept, size=number_to_prune(kept.size, rate), replace=False)
            mask = previous.copy()
            mask.flat[drop] = False
            following[name] = mask
        masks.append(following)
    return masks


def random_mask_like(mask: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random mask with exactly as many weights per layer as `mask`."""
    result = {}
    for name, m in mask.items():
        flat = np.zeros(m.size, dtype=bool)
        flat[rng.choice(m.size, size=int(m.sum()), replace=False)] = True
        result[name] = flat.reshape(m.shape)
    return result


def round_metrics(mask: dict[str, np.ndarray], test_acc: float, test_loss: float) -> dict[str, float]:
    total = sum(m.size for m in mask.values())
    return {
        "test_acc": test_acc,
        "test_loss": test_loss,
        "sparsity": 1.0 - sum(int(m.sum()) for m in mask.values()) / total,
        **{f"remaining.{name}": int(m.sum()) / m.size for name, m in mask.items()},
    }


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class LegacyTrial:
    """What the builder wrote for one trial run (to compare the store against after a reader ran)."""

    run_id: str
    theta0: dict[str, np.ndarray]
    masks: list[dict[str, np.ndarray]]  # rounds 0..R
    test_acc: list[float]  # rounds 0..completed - 1


class LegacyStore:
    """A SQLite store in `directory` (`mlflow.db`, `artifacts/`) as `python -m experiments.train` makes it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.uri = f"sqlite:///{self.directory}/mlflow.db"
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment_id(self, dataset: str) -> str:
        existing = self.client.get_experiment_by_name(dataset)
        if existing is not None:
            return existing.experiment_id
        location = (self.directory / "artifacts" / dataset).resolve().as_uri()
        return self.client.create_experiment(
            dataset, artifact_location=location, tags={"mlflow.experimentKind": "custom_model_development"}
        )

    def log_arrays(self, run_id: str, artifact: str, arrays: dict[str, np.ndarray]) -> None:
        path = Path(artifact)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / path.name
            with local.open("wb") as handle:
                np.savez_compressed(handle, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
            self.client.log_artifact(run_id, str(local), artifact_path=str(path.parent))

    def log_metrics(self, run_id: str, values: dict[str, float], step: int) -> None:
        now = now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()])

    def write_trial(
        self, params: dict[str, str], trial: int, completed: int | None = None, status: str = "KILLED"
    ) -> LegacyTrial:
        """Trial `trial` of the configuration `params`: finished (winning) when `completed` is None, else
        stopped with status `status` after rounds 0..completed - 1, as a Ctrl-C leaves it."""
        dataset, rounds = params["dataset"], int(params["rounds"])
        rng = np.random.default_rng([int(params["seed"]), trial, 20240611])
        theta0 = glorot_theta0(rng)
        masks = nested_masks(params, rng)
        done = rounds + 1 if completed is None else completed
        test_acc = [0.90 + 0.01 * r for r in range(done)]
        tags = {
            "lottery.role": "trial",
            "lottery.dataset": dataset,
            "lottery.trial": str(trial),
            "lottery.init": init_digest(theta0),
            "lottery.config": config_digest(params),
        }
        client = self.client
        run_id = client.create_run(
            self.experiment_id(dataset), tags=tags, run_name=f"{dataset}/trial-{trial:02d}"
        ).info.run_id
        client.log_batch(run_id, params=[Param(k, v) for k, v in {**params, "trial": str(trial)}.items()])
        entity = Dataset(
            name=DIGITS_INPUT["name"],
            digest=DIGITS_INPUT["digest"],
            source_type="local",
            source=json.dumps({"source": DIGITS_INPUT["source"]}),
            profile=json.dumps(DIGITS_SIZES),
        )
        client.log_inputs(run_id, [DatasetInput(entity, [InputTag("mlflow.data.context", "train")])])
        claimed = now_ms()
        client.log_param(run_id, "lottery.lease.1", f"{HOLDER} {claimed}")
        client.set_tag(run_id, "lottery.lease", f"1 {HOLDER} {claimed + 60_000}")
        client.update_run(run_id, status="SCHEDULED")
        client.update_run(run_id, status="RUNNING")
        self.log_arrays(run_id, INIT_ARTIFACT, theta0)
        for r in range(done):
            if r < rounds:
                self.log_arrays(run_id, round_mask_artifact(r + 1), masks[r + 1])
            self.log_metrics(run_id, round_metrics(masks[r], test_acc[r], 0.3 - 0.01 * r), step=r)
        if completed is None:
            self.log_arrays(run_id, RANDOM_MASK_ARTIFACT, random_mask_like(masks[rounds], rng))
            self.log_metrics(run_id, {"random_test_acc": 0.85, "random_test_loss": 0.5}, step=rounds)
            self.log_arrays(run_id, WINNING_MASK_ARTIFACT, masks[rounds])
            client.log_batch(
                run_id, tags=[RunTag("lottery.winning", "true"), RunTag("lottery.verdict", "winning")]
            )
            client.set_terminated(run_id, "FINISHED")
        else:
            client.set_terminated(run_id, status)
        client.set_tag(run_id, "lottery.lease", f"1 {HOLDER} 0")  # the driver released it on exit
        return LegacyTrial(run_id, theta0, masks, test_acc)


def finished_trials(directory: Path, params: dict[str, str]) -> tuple[LegacyStore, list[LegacyTrial]]:
    """A store holding every trial of `params`, finished with a winning ticket."""
    store = LegacyStore(directory)
    return store, [store.write_trial(params, trial) for trial in range(int(params["trials"]))]


def interrupted_trial(
    directory: Path, params: dict[str, str], completed: int, status: str = "KILLED"
) -> tuple[LegacyStore, LegacyTrial]:
    """A store holding trial 0 of `params`, stopped (`status`) after `completed` rounds."""
    store = LegacyStore(directory)
    return store, store.write_trial(params, 0, completed=completed, status=status)
