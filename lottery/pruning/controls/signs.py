"""Signs kept (Zhou et al. 2019, "Deconstructing lottery tickets"): the winning mask, magnitudes drawn afresh
from θ0's distribution, the signs of the ticket's start weights kept: w = sign(θ) · |w'| with w' drawn as
θ0 is. Zhou et al. found such tickets train about as well as the winning ticket — the premise of studying
a ticket's signs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lottery.pruning.controls import Control, Start, redrawn

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask


def derive(final_mask: Mask, weights: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Start:
    fresh = redrawn(weights, rng)
    return Start(final_mask, {name: weights[name].sign() * fresh[name].abs() for name in weights})


CONTROL = Control(
    name="signs",
    title="signs-kept ticket",
    derive=derive,
)
