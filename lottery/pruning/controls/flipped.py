"""Signs flipped (the adversarial case): the winning mask, the ticket's start weights with every sign
flipped, w = −θ — same magnitudes, opposite signs. If signs carry the ticket, this one should train worst."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lottery.pruning.controls import Control, Start

if TYPE_CHECKING:
    import torch

    from lottery.pruning.mask import Mask


def derive(final_mask: Mask, weights: Mapping[str, torch.Tensor], rng: np.random.Generator) -> Start:
    return Start(final_mask, {name: -weight for name, weight in weights.items()})


CONTROL = Control(
    name="flipped",
    title="signs-flipped ticket",
    derive=derive,
)
