"""The random ticket (Frankle & Carbin 2019): a uniformly random mask with the final ticket's per-layer
counts, trained from the ticket's start weights (θ0, or θ_k under late rewinding).

Its streams, artifact and metric names are those of stores that predate the registry: they resume and
reproduce bit for bit; the analysis reads its mask (`contract.RANDOM_MASK_ARTIFACT`, held equal to its
artifact by `tests/test_controls.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lottery import seeds
from lottery.pruning.controls import Control, Start

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask


def derive(final_mask: Mask, weights: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Start:
    from lottery.pruning import mask as masks  # torch: only when a mask is drawn

    return Start(masks.random_like(final_mask, rng), weights)


def streams() -> tuple[int, int]:
    """The streams of the random ticket's mask and batches since before the registry."""
    return seeds.RANDOM_TICKET_STREAM, seeds.RANDOM_BATCHES_STREAM


CONTROL = Control(
    name="random",
    title="random ticket",
    derive=derive,
    records="mask",
    legacy_streams=streams,
)
