"""NED and NED± cost matrices between the units of one layer of two networks.

NED(G, H) = |G △ H| / |G ∪ H| = 1 − |G ∩ H| / |G ∪ H|, with NED(∅, ∅) = 0;
NED±(G, H) = ½ · (NED(G⁺, H⁺) + NED(G⁻, H⁻)), and weighted (the paper's §3):
NED±_w(G, H) = w · NED(G⁺, H⁺) + (1 − w) · NED(G⁻, H⁻), so NED± = NED±_½.
All unit pairs at once: |G_i ∩ H_j| = (M_G · M_Hᵀ)_ij and |G_i ∪ H_j| = |G_i| + |H_j| − |G_i ∩ H_j|.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

try:  # scipy's numeric kernels for sparse · sparse and sparse → dense (private: see `_sparse_product`)
    from scipy.sparse._sparsetools import csr_matmat, csr_todense
except ImportError:  # a scipy that moved them: the public product, about 40 % slower
    csr_matmat = csr_todense = None

from analysis.distances.incoming import INDEX, LayerSets, SetMatrix


def ned_from_counts(intersections: np.ndarray, sizes_a: np.ndarray, sizes_b: np.ndarray) -> np.ndarray:
    """NED_ij from |G_i ∩ H_j|, |G_i| and |H_j| (0 where both sets are empty)."""
    unions = sizes_a[:, None] + sizes_b[None, :] - intersections
    return np.divide(unions - intersections, unions, out=np.zeros_like(unions), where=unions > 0)


# Above this product of the two matrices' densities a dense BLAS product beats the sparse one: the sparse
# product's work grows with density_a · density_b, the dense one's does not (measured on 256 × 16384 layers).
DENSE_ABOVE = 1 / 40


def _dense(m: SetMatrix, indices: np.ndarray) -> np.ndarray:
    """M as a dense 0/1 float32 matrix, its stored entries' column indices being `indices`."""
    dense = np.zeros((m.units, m.inputs), dtype=np.float32)
    dense[np.repeat(np.arange(m.units), np.diff(m.indptr)), indices] = 1
    return dense


def _sparse_product(a: SetMatrix, a_indices: np.ndarray, b: SetMatrix) -> np.ndarray:
    """M_G · M_Hᵀ with scipy's numeric kernel alone: `@` would first size its sparse result with a symbolic
    pass costing as much as the product; the result has at most units_a · units_b entries, so the kernel
    runs into buffers that large and the result goes straight to a dense matrix."""
    if csr_matmat is None:
        m_a = sp.csr_array((a.ones, a_indices, a.indptr), shape=(a.units, a.inputs))
        m_b = sp.csr_array((b.ones, b.indices, b.indptr), shape=(b.units, b.inputs))
        return (m_a @ m_b.T).toarray()
    capacity = a.units * b.units
    indptr = np.empty(a.units + 1, dtype=INDEX)
    indices = np.empty(capacity, dtype=INDEX)
    values = np.empty(capacity, dtype=np.float32)
    csr_matmat(
        a.units, b.units,
        a.indptr, a_indices, a.ones,
        b.transposed_indptr, b.transposed_indices, b.ones,
        indptr, indices, values,
    )  # fmt: skip
    dense = np.zeros((a.units, b.units), dtype=np.float32)
    csr_todense(a.units, b.units, indptr, indices, values, dense)
    return dense


def intersections(a: SetMatrix, a_indices: np.ndarray, b: SetMatrix) -> np.ndarray:
    """|G_i ∩ H_j| = (M_G · M_Hᵀ)_ij as a dense float64 matrix; M_G's column indices are `a_indices`.

    Counts are exact: sums of ones in float32 stay exact below 2²⁴.
    """
    if a.density * b.density > DENSE_ABOVE:
        product = _dense(a, a_indices) @ _dense(b, b.indices).T
    else:
        product = _sparse_product(a, a_indices, b)
    return product.astype(np.float64)


def input_order(block: int, matching: np.ndarray) -> np.ndarray:
    """The lookup table taking input u · block + s to matching[u] · block + s (whole blocks move together).

    Relabelling network 1's inputs with it and comparing with network 2 is the same as reordering network
    2's inputs so that its block matching[u] sits where network 1 has block u.
    """
    return (matching[:, None] * block + np.arange(block)).ravel().astype(INDEX)


def cost_matrix(
    a: LayerSets, b: LayerSets, matching: np.ndarray | None, *, signed: bool, positive_weight: float = 0.5
) -> np.ndarray:
    """C_ij = NED (or NED±_w if `signed`, w = `positive_weight`) between unit i of network 1 and unit j of
    network 2.

    `matching[u]` is the unit of network 2's previous layer matched to unit u of network 1's (None for
    the first layer): network 2's inputs are compared in that order.
    """
    order = None if matching is None else input_order(a.block, matching)
    costs = [
        ned_from_counts(
            intersections(part_a, part_a.indices if order is None else order[part_a.indices], part_b),
            part_a.sizes,
            part_b.sizes,
        )
        for part_a, part_b in zip(a.parts(signed), b.parts(signed), strict=True)
    ]
    if not signed:
        return costs[0]
    positive, negative = costs
    return positive_weight * positive + (1 - positive_weight) * negative  # w = ½: exactly (C⁺ + C⁻) / 2
