"""Synthetic tickets for the analysis tests and `bench.analysis_speed`: arrays in the tracking contract's
layout, trial runs logged into a store and read back, the analysis CLI's one-line errors, and a naive
per-unit-pair NNSTD: the oracle the fast one must match.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from scipy.optimize import linear_sum_assignment

from analysis.reporting import figures
from lottery.models.conv2 import Network as Conv2
from lottery.tracking import contract, store
from lottery.tracking.arrays import save_arrays

LAYER_NAMES = Conv2.SPEC.layer_names

# Fraction of weights pruned per layer in the paper's tickets (91.2 % overall for Conv-2).
PAPER_PRUNED: dict[str, float] = {
    "conv1": 0.686,
    "conv2": 0.686,
    "dense1": 0.914,
    "dense2": 0.914,
    "output": 0.686,
}


def conv2_shapes(
    channels: int = 64, side: int = 16, hidden: int = 256, classes: int = 10
) -> dict[str, tuple]:
    """Layer shapes of Conv-2 (the defaults) or of a smaller network wired the same way."""
    return {
        "conv1": (channels, 3, 3, 3),
        "conv2": (channels, channels, 3, 3),
        "dense1": (hidden, channels * side * side),
        "dense2": (hidden, hidden),
        "output": (classes, hidden),
    }


SMALL_SHAPES = conv2_shapes(channels=8, side=2, hidden=12)
# a small toy network (conv1 → dense1 → output) and a small dense-first chain shaped like LeNet-300-100
TOY_SHAPES = {"conv1": (8, 3, 3, 3), "dense1": (12, 8 * 2 * 2), "output": (10, 12)}
LENET_SHAPES = {"dense1": (16, 48), "dense2": (12, 16), "output": (10, 12)}


def random_theta0(shapes: Mapping[str, tuple], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


def random_mask(
    shapes: Mapping[str, tuple], rng: np.random.Generator, pruned: Mapping[str, float] = PAPER_PRUNED
) -> dict[str, np.ndarray]:
    return {name: rng.random(shape) >= pruned[name] for name, shape in shapes.items()}


def random_signed(
    shapes: Mapping[str, tuple], rng: np.random.Generator, pruned: Mapping[str, float] = PAPER_PRUNED
) -> list[np.ndarray]:
    """A signed ticket sign(θ0) ⊙ mask with independent random signs and mask."""
    theta0, mask = random_theta0(shapes, rng), random_mask(shapes, rng, pruned)
    return [(np.sign(theta0[name]) * mask[name]).astype(np.int8) for name in shapes]


def permute_hidden_units(layers: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same network with every hidden unit reordered: filters and their conv→dense blocks, dense units."""
    out = [np.array(layer) for layer in layers]
    for k in range(len(out) - 1):
        order = rng.permutation(out[k].shape[0])
        out[k] = out[k][order]
        following = out[k + 1]
        blocks = following.reshape(following.shape[0], len(order), -1)
        out[k + 1] = blocks[:, order, :].reshape(following.shape)
    return out


def _incoming(row: np.ndarray, sign: int | None) -> frozenset[int]:
    hits = row != 0 if sign is None else row == sign
    return frozenset(np.flatnonzero(hits).tolist())


def _ned(g: frozenset[int], h: frozenset[int]) -> float:
    union = len(g | h)
    return len(g ^ h) / union if union else 0.0


def naive_nnstd(a: Sequence[np.ndarray], b: Sequence[np.ndarray], *, signed: bool) -> list[float]:
    """The definition run literally: Python sets, one NED per unit pair, network 2's inputs reordered."""
    b = [np.array(layer) for layer in b]
    signs = (1, -1) if signed else (None,)
    distances = []
    for k, layer_a in enumerate(a):
        rows_a, rows_b = layer_a.reshape(layer_a.shape[0], -1), b[k].reshape(b[k].shape[0], -1)
        sets_a = [[_incoming(row, s) for s in signs] for row in rows_a]
        sets_b = [[_incoming(row, s) for s in signs] for row in rows_b]
        cost = np.array(
            [[sum(map(_ned, ga, gb)) / len(signs) for gb in sets_b] for ga in sets_a], dtype=np.float64
        )
        units, matching = linear_sum_assignment(cost)
        distances.append(float(cost[units, matching].sum() / len(units)))
        if k + 1 < len(b):
            following = b[k + 1]
            blocks = following.reshape(following.shape[0], len(matching), -1)
            b[k + 1] = blocks[:, matching, :].reshape(following.shape)
    return distances


def stats_of(
    distances: Mapping[str, Mapping[str, np.ndarray]], layers: Sequence[str], alpha: float, **kwargs
):
    """`condition_stats` of `distances` (condition → metric → pairs × layers) where every pair has two tickets
    of its own, grown from θ0s of their own: no ticket sits in two pairs."""
    from analysis.statistics.stats import condition_stats

    pairs, start = {}, 0
    for name, by_metric in distances.items():
        n = len(next(iter(by_metric.values())))
        pairs[name] = np.arange(start, start + 2 * n).reshape(n, 2)
        start += 2 * n
    return condition_stats(distances, layers, alpha, pairs=pairs, units=np.arange(start), **kwargs)


def artifact_file(uri: str, run_id: str, path: str) -> Path:
    """Where a local store keeps a run's artifact."""
    return Path(MlflowClient(uri).get_run(run_id).info.artifact_uri.removeprefix("file://")) / path


def error_line(capsys, argv: list[str]) -> str:
    """The one line `python -m analysis argv` ends in, checked to be a user error: exit 2, `error: …`."""
    from analysis.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@functools.lru_cache(maxsize=4)
def _client(uri: str):
    """The checked client of the store `uri`: tests log trials into one store several times."""
    return store.connect(uri)


def log_trials(
    uri: str,
    dataset: str,
    trials: int,
    *,
    shapes: Mapping[str, tuple] = SMALL_SHAPES,
    seed: int = 0,
    config: str = "cfg0",
    first_trial: int = 0,
    winning: bool = True,
    status: str = "FINISHED",
    model: str | None = None,
    accuracies: Mapping[str, Sequence[float]] | None = None,
    rounds: int = 2,
    rewind_step: int = 0,
) -> list[str]:
    """Log `trials` synthetic trial runs in the tracking contract; return their run ids.

    Trial k's θ0 depends on (seed, k) only, so trial k of every dataset shares θ0 and `lottery.init`,
    like the real trainer's. `model`: the param `model` (None: not logged, as by runs that predate it).
    `accuracies`: metric → one value per trial, logged at step `rounds` (R); `test_acc` also gets a
    dense-network value 0.999 at step 0, which the final ticket's accuracy is not. `rewind_step` k > 0:
    the tag `lottery.rewind_step` and `ticket/rewind.npz`, θ_k drawn independently of θ0.
    """
    client = _client(uri)
    experiment = store.experiment_id(client, dataset)
    run_ids = []
    for trial in range(first_trial, first_trial + trials):
        theta0 = random_theta0(shapes, np.random.default_rng([seed, trial]))
        rng = np.random.default_rng([seed, trial, sum(map(ord, dataset))])
        tags = {
            contract.TAG_ROLE: contract.ROLE_TRIAL,
            contract.TAG_DATASET: dataset,
            contract.TAG_TRIAL: str(trial),
            contract.TAG_INIT: f"init-{seed}-{trial}",
            contract.TAG_CONFIG: config,
            contract.TAG_WINNING: str(winning).lower(),
        }
        if rewind_step:
            tags[contract.TAG_REWIND_STEP] = str(rewind_step)
        run = client.create_run(experiment, tags=tags, run_name=f"{dataset}/trial-{trial:02d}")
        run_id = run.info.run_id
        params = [] if model is None else [Param(contract.PARAM_MODEL, model)]
        metrics, now = [], store.now_ms()
        for metric, values in (accuracies or {}).items():
            if metric == "test_acc":
                metrics.append(Metric(metric, 0.999, now, 0))
            metrics.append(Metric(metric, values[trial - first_trial], now, rounds))
        client.log_batch(run_id, metrics=metrics, params=params)
        arrays = {
            "init": theta0,
            "winning_mask": random_mask(shapes, rng),
            "random_mask": random_mask(shapes, rng),
        }
        if rewind_step:
            arrays["rewind"] = random_theta0(shapes, np.random.default_rng([seed, trial, rewind_step]))
        with tempfile.TemporaryDirectory() as tmp:
            for name, values in arrays.items():
                save_arrays(Path(tmp) / f"{name}.npz", {layer: values[layer] for layer in shapes})
            # as `client.log_artifacts` does, without reading the run back for its artifact location
            get_artifact_repository(run.info.artifact_uri, tracking_uri=uri).log_artifacts(tmp, "ticket")
        client.set_terminated(run_id, status)
        run_ids.append(run_id)
    return run_ids


# The smallest PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000000000500010d0a2db40000000049454e44ae426082"
)


def draw_nothing(monkeypatch) -> None:
    """Figures are logged as blank ones, neither composed nor drawn: that is most of an analysis's time (10 of
    the 11 s of CPU of tests/test_browser.py's), and the tests using this are about runs, tables, pages and
    errors (tests/test_figures.py composes and draws every figure). Used through conftest's `undrawn`
    fixture, or called with a module's own MonkeyPatch."""
    for name in (
        "distance_distributions",
        "layer_distributions",
        "filter_counts",
        "cooccurrence",
        "top_patterns",
    ):
        monkeypatch.setattr(figures, name, lambda *args, **kwargs: Figure())
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, *args, **kwargs: Path(fname).write_bytes(PNG))
