"""Incoming sets of every unit, stored as sparse 0/1 matrices so that intersections are matrix products.

A layer's signed weights W (units × inputs, every axis after the first flattened in PyTorch order) give
each unit i its incoming set G_i = {k : W_ik ≠ 0} and the signed parts G_i⁺ = {k : W_ik > 0},
G_i⁻ = {k : W_ik < 0}. With the indicator vectors of a network's sets as the rows of a 0/1 matrix M,
the intersections between two networks are |G_i ∩ H_j| = (M_G · M_Hᵀ)_ij.

The inputs of layer k+1 come in blocks, one per unit of layer k: input c = u · block + s belongs to
unit u of layer k, with block = inputs / units(k) (3·3 for conv → conv, 16·16 for conv → dense since
PyTorch flattens channel-major, 1 for dense → dense). Reordering the units of layer k moves whole blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

INDEX = np.int32  # index type of the sparse structures (layers have fewer than 2³¹ weights)


@dataclass(frozen=True)
class SetMatrix:
    """The incoming sets of one layer's units: M (units × inputs) and Mᵀ in CSR form, and |G_i|.

    `ones` holds the values of M's (and Mᵀ's) stored entries.
    """

    inputs: int
    indptr: np.ndarray
    indices: np.ndarray
    transposed_indptr: np.ndarray
    transposed_indices: np.ndarray
    ones: np.ndarray
    sizes: np.ndarray

    @property
    def units(self) -> int:
        return len(self.indptr) - 1

    @property
    def density(self) -> float:
        return len(self.indices) / max(self.units * self.inputs, 1)


@dataclass(frozen=True)
class LayerSets:
    """A layer's incoming sets G, G⁺ and G⁻; `block` = inputs per unit of the previous layer."""

    block: int
    unsigned: SetMatrix
    positive: SetMatrix
    negative: SetMatrix

    @property
    def units(self) -> int:
        return self.unsigned.units

    @property
    def shape(self) -> tuple[int, int]:
        return self.unsigned.units, self.unsigned.inputs

    def parts(self, signed: bool) -> tuple[SetMatrix, ...]:
        """The set families a metric compares: (G,) for NED, (G⁺, G⁻) for NED±."""
        return (self.positive, self.negative) if signed else (self.unsigned,)


def _set_matrix(keep: np.ndarray | None, indptr: np.ndarray, inputs: np.ndarray, n_inputs: int) -> SetMatrix:
    """The CSR matrix (`indptr`, `inputs`) restricted to the entries marked by `keep` (None: all)."""
    if keep is not None:
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        indptr, inputs = kept_before[indptr].astype(INDEX), np.compress(keep, inputs)
    ones = np.ones(len(inputs), dtype=np.float32)
    transposed = sp.csr_array((ones, inputs, indptr), shape=(len(indptr) - 1, n_inputs)).tocsc()
    return SetMatrix(
        inputs=n_inputs,
        indptr=indptr,
        indices=inputs,
        transposed_indptr=transposed.indptr.astype(INDEX, copy=False),
        transposed_indices=transposed.indices.astype(INDEX, copy=False),
        ones=ones,
        sizes=np.diff(indptr).astype(np.float64),
    )


def layer_sets(weights: np.ndarray, block: int) -> LayerSets:
    """G, G⁺, G⁻ of every unit of one layer of signed weights (values −1, 0, +1)."""
    flat = weights.reshape(weights.shape[0], -1)
    units, n_inputs = flat.shape
    if flat.size >= 2**31:
        raise ValueError(f"a layer of {flat.size} weights is too large")
    nonzero = np.flatnonzero(flat != 0)  # row-major: sorted by unit, then input
    indptr = np.searchsorted(nonzero, np.arange(units + 1, dtype=np.int64) * n_inputs).astype(INDEX)
    row_starts = np.repeat(np.arange(units, dtype=np.int64) * n_inputs, np.diff(indptr))
    inputs = (nonzero - row_starts).astype(INDEX)
    positive = flat.ravel()[nonzero] > 0
    return LayerSets(
        block=block,
        unsigned=_set_matrix(None, indptr, inputs, n_inputs),
        positive=_set_matrix(positive, indptr, inputs, n_inputs),
        negative=_set_matrix(~positive, indptr, inputs, n_inputs),
    )


def input_blocks(layers: Sequence[np.ndarray]) -> list[int]:
    """Inputs per unit of the previous layer, for each layer (the first: all its inputs per unit).

    ValueError if a layer's inputs do not split evenly over the previous layer's units.
    """
    blocks = [int(np.prod(layers[0].shape[1:]))]
    for previous, layer in zip(layers, layers[1:], strict=False):
        inputs, units = int(np.prod(layer.shape[1:])), previous.shape[0]
        if inputs % units:
            raise ValueError(f"a layer with {inputs} inputs cannot follow a layer of {units} units")
        blocks.append(inputs // units)
    return blocks


def chain_problem(layers: Sequence[np.ndarray]) -> str | None:
    """Why `layers` (in forward order) do not form a chain whose every layer's inputs are the previous
    layer's units, as the incoming sets need (a network with skip connections, a ResNet); None if they do."""
    if any(layer.ndim < 2 for layer in layers):
        return f"layers must be units × inputs, not {[layer.shape for layer in layers]}"
    try:
        input_blocks(layers)
    except ValueError as error:
        return str(error)
    return None


def ticket_sets(layers: Sequence[np.ndarray]) -> tuple[LayerSets, ...]:
    """The incoming sets of every layer of a signed ticket (layers in forward order)."""
    return tuple(layer_sets(layer, block) for layer, block in zip(layers, input_blocks(layers), strict=True))
