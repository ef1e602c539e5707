"""Re-initialised ticket (Frankle & Carbin 2019's control): the winning mask, its weights drawn afresh from
θ0's distribution (Glorot-normal). A winning ticket that trains no better re-initialised owes nothing to its
initial weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lottery.pruning.controls import Control, Start, redrawn

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask


def derive(final_mask: Mask, weights: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Start:
    return Start(final_mask, redrawn(weights, rng))


CONTROL = Control(
    name="reinit",
    title="re-initialised ticket",
    derive=derive,
)
