"""The random ticket: a uniformly random mask with the final ticket's per-layer counts, trained from θ0.

Its streams, artifact and metric names are those of stores that predate the registry: they resume and
reproduce bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lottery.pruning.controls import Control

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask


def derive(final_mask: Mask, theta0: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Mask:
    from lottery.pruning import mask as masks  # torch: only when a mask is drawn

    return masks.random_like(final_mask, rng)


def streams() -> tuple[int, int]:
    """The streams of the random ticket's mask and batches since before the registry."""
    from lottery import seeds  # torch: only when a mask is drawn

    return seeds.RANDOM_TICKET_STREAM, seeds.RANDOM_BATCHES_STREAM


CONTROL = Control(
    name="random_ticket",
    title="random ticket",
    derive=derive,
    artifact="ticket/random_mask.npz",
    acc_metric="random_test_acc",
    loss_metric="random_test_loss",
    legacy_streams=streams,
)
