"""Every random choice derives its generator here, from integers (SEED, trial, stream, …) through numpy's
SeedSequence: the training's (θ0, batch orders, the controls' draws) and the analysis's (the pairs each
condition draws, the tie-breaking draws of NNSTD).

Trial k's θ0 depends on (SEED, k) only, so trial k of every dataset starts from the same weights. Names enter
the entropy as numbers: a condition's or a ticket's name as its CRC-32 (`name_entropy`), a control's stream
as 32 bits of a digest clear of the small stream numbers below (`name_stream`). Both mappings are pinned by
the stores and analyses made with them: changing either changes every draw that uses it.

Loads no torch until a torch generator is asked for (the analysis and the controls' registry import it).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

INIT_STREAM = 0
IMP_BATCHES_STREAM = 1
RANDOM_TICKET_STREAM = 2
RANDOM_BATCHES_STREAM = 3


def sequence(*entropy: int) -> np.random.SeedSequence:
    """The one derivation every generator starts from: a SeedSequence of `entropy`, in order."""
    return np.random.SeedSequence(list(entropy))


def derive(*entropy: int) -> int:
    """A 63-bit seed that depends only on `entropy` (for generators seeded by an integer: torch's)."""
    return int(sequence(*entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def torch_generator(*entropy: int, device: torch.device | str = "cpu") -> torch.Generator:
    import torch

    return torch.Generator(device=device).manual_seed(derive(*entropy))


def numpy_rng(*entropy: int) -> np.random.Generator:
    """numpy's generator of `entropy` (as `np.random.default_rng([*entropy])`, draw for draw)."""
    return np.random.default_rng(sequence(*entropy))


def name_entropy(name: str) -> int:
    """A name as an entropy word: the CRC-32 of its UTF-8 bytes (conditions, tickets of the analysis)."""
    return zlib.crc32(name.encode())


def name_stream(name: str, purpose: str) -> int:
    """The stream number of control `name`'s `purpose` (its draws, its batches): 32 bits of a digest with the
    top bit set, so it never meets the small stream numbers above."""
    digest = hashlib.sha256(f"lottery.control/{name}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") | 1 << 31
