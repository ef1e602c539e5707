"""A trial run's tickets, read from its artifacts without pickle: in place where the run's artifact location
is a local folder (a SQLite store's, any `file:` location), else through a `TicketCache` or downloaded for
the one read (an http(s) server's proxied artifacts, s3, …).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.tickets.cache import TicketCache
from analysis.tickets.signed import RANDOM_KIND, WINNING_KIND, Ticket, signed_layers
from analysis.tickets.store import TrialRun
from lottery.errors import UserError
from lottery.tracking import contract, store, uris
from lottery.tracking.arrays import load_arrays

MASK_ARTIFACTS = {WINNING_KIND: contract.WINNING_MASK_ARTIFACT, RANDOM_KIND: contract.RANDOM_MASK_ARTIFACT}


def local_folder(run: store.StoredRun) -> Path | None:
    """The local folder holding `run`'s artifacts (its artifact location `file:` on this host, or a bare
    path), read in place; None where they are anywhere else (`mlflow-artifacts:`, http(s), s3, gs, …),
    whatever the tracking store: read through a `TicketCache`."""
    return uris.local_path(run.artifact_uri)


def needs_cache(runs: Sequence[store.StoredRun]) -> bool:
    """Whether any of `runs` keeps its artifacts outside a local folder: only those go through a cache."""
    return any(local_folder(run) is None for run in runs)


def _read(
    client, run: TrialRun, artifact: str, layer_names: Sequence[str] | None, dtype, cache: TicketCache | None
) -> dict[str, np.ndarray]:
    """One of the run's .npz artifacts read without pickle: in place if the run's artifacts are local files,
    else through `cache` or downloaded for this read."""

    def read(path: Path) -> dict[str, np.ndarray]:
        return load_arrays(path, layer_names, dtype, source=run.source)

    folder = local_folder(run)
    if folder is not None:
        local = folder / artifact
        if not local.is_file():
            raise UserError(
                f"{run.source}: {artifact} is missing from the run's artifacts ({local}); "
                "re-run the trial that produced it"
            )
        return read(local)
    if cache is not None:
        return cache.read(client, run, artifact, read)
    with tempfile.TemporaryDirectory() as directory:
        return read(store.download_artifact(client, run, artifact, directory))


def load_tickets(
    client, runs: Sequence[TrialRun], cache: TicketCache | None = None
) -> tuple[list[Ticket], tuple[str, ...]]:
    """Each run's random ticket and, if it won, its winning ticket, and the names of their layers in forward
    order — as the tickets hold them (the keys of θ_k's `.npz`), whatever the model, chain or not
    (`analysis.distances.incoming.chain_problem`). The signs are those of θ_k (`TrialRun.weights_artifact`).
    UserError naming a run on bad files, or on runs of different architectures.

    Artifacts in a local folder are read where they are, whether or not there is a `cache`; others are read
    from the `cache` and downloaded only on a miss, or without one downloaded each time.
    """
    tickets: list[Ticket] = []
    shapes, layer_names = None, None
    for run in runs:
        kinds = (WINNING_KIND, RANDOM_KIND) if run.winning else (RANDOM_KIND,)
        weights = _read(client, run, run.weights_artifact, layer_names, np.float32, cache)
        layer_names = layer_names or tuple(weights)
        masks = {
            kind: _read(client, run, MASK_ARTIFACTS[kind], layer_names, np.bool_, cache) for kind in kinds
        }
        run_shapes = [weights[name].shape for name in layer_names]
        for kind, mask in masks.items():
            if [mask[name].shape for name in layer_names] != run_shapes:
                raise UserError(
                    f"{run.source}: {MASK_ARTIFACTS[kind]} does not match the shapes of "
                    f"{run.weights_artifact}; re-run the trial that produced it"
                )
        shapes = shapes or run_shapes
        if run_shapes != shapes:
            raise UserError(
                f"{run.source}: layer shapes {run_shapes} differ from the other runs' {shapes}; "
                "analyse one architecture at a time (--model, --datasets)"
            )
        tickets += [
            Ticket(
                run.dataset,
                run.trial,
                kind,
                run.init,
                run.run_id,
                signed_layers(weights, masks[kind], layer_names),
            )
            for kind in kinds
        ]
    return tickets, layer_names or ()
