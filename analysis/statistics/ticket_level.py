"""The ticket-level test: a condition's mean distance against the control's when tickets, not pairs, are the
unit that was replicated.

A condition's pairs share tickets (a ticket sits in several pairs), and a comparison's two conditions may
share tickets too (`mixed_*` and `random` both hold the random tickets). Tickets grown from one θ0 (a trial's
winning and random tickets; trial k of every dataset trained with one seed) share their signs and their
per-layer counts, so the independent units are the θ0s. Pairs p = 1..n of the two conditions, d_p their
distances, w_p = 1/n₁ in the condition, −1/n₂ in the control:

  D   = Σ_p w_p d_p, the difference of the condition means (diff_mean);
  e_p = d_p − the mean of p's condition (residuals);
  V̂   = Σ_k (Σ_{p ∋ k} w_p e_p)², k over θ0 units, p ∋ k when one of p's tickets grew from θ0 k: the
        cluster-robust variance where a pair belongs to the clusters of both its tickets;
  working model: d_p = μ_cond(p) + u_i + u_j + ε_p for a pair of tickets i, j: ticket effects
        u ~ (0, σ_u²), pair noise ε ~ (0, σ_ε²), all independent; Ω = Cov(d) = σ_ε² I + σ_u² Z Zᵀ
        (Z: pairs × tickets). (σ_ε², σ_u²) solves the moment equations E[y] = A σ² of y = (eᵀe, eᵀZZᵀe);
        σ_u² is left out where the pairs cannot tell it from σ_ε² (no ticket in two pairs; 3 pairs of 3
        tickets, whose demeaned ticket sums span the demeaned pairs), and a
        negative estimate is set to 0 and the other refitted;
  V   = c · V̂ with c = Var(D) / E[V̂] under the working model at the estimates (Bell & McCaffrey 2002:
        V̂ double-counts each pair's own variance and, with few units, loses some to the fitted means);
  ν   = 2 Var(D)² / Var(V) (Satterthwaite), Var(V) by the delta method over (V̂, y), whose covariances
        under the Gaussian working model are 2 tr(A_i Ω A_j Ω); where an estimate was set to 0, its
        derivative is the mean of the refitted and the unrefitted equations' (the positive part's two
        one-sided derivatives: an estimate at 0 is about as likely to have been pushed there as to be 0);
  p_tickets = 2 P(T_ν > |D| / √V), and the 95 % interval D ∓ t(0.975; ν) · √V.
ticket_share = 2σ_u² / (2σ_u² + σ_ε²): the share of a pair distance's variance that its two tickets carry,
fitted on one condition's pairs alone (NaN where they cannot tell ticket effects from pair noise: no
ticket in two pairs, or the 3 pairs of 3 tickets).
The working model only sets c and ν; V̂ needs none of it. Where the tickets of one θ0 share an effect
(their signs, their counts), V̂ sees it and the test stays valid, conservative (docs/benchmarks.md). The
test and its choice are calibrated in `bench.calibration`.

Everything is computed for a batch of distance vectors at once (both metrics, every layer; or a calibration's
replications) over one design. Traces of n × n products are taken in the space spanned by the columns of
Y = [M W C, M Z] (C: the 0/1 θ0 membership; M removes the condition means), so that the cost grows with
n · (θ0s + tickets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np
import scipy.stats

from analysis.parallel import one_blas_thread

CONFIDENCE = 0.95
UNREFITTED_WEIGHT = 0.5  # where an estimate was set to 0: the unrefitted equations' share of its derivative
_IDENTIFIED = 1e-9  # the smallest reciprocal condition number of moment equations that tell components apart


def _incidence(ids: np.ndarray, counts: bool) -> np.ndarray:
    """Rows: pairs, columns: the distinct ids in `ids` (pairs × 2); how often (`counts`) or whether the pair
    holds each id."""
    _, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    matrix = np.zeros((len(ids), int(inverse.max()) + 1 if inverse.size else 0))
    for column in inverse.T:
        if counts:
            np.add.at(matrix, (np.arange(len(ids)), column), 1.0)
        else:
            matrix[np.arange(len(ids)), column] = 1.0
    return matrix


def _trace_of_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr(a b) without forming the product."""
    return float(np.einsum("ij,ji->", a, b))


@dataclass(frozen=True)
class _Form:
    """The quadratic form eᵀ A e, A = α·M + Y diag(s) Yᵀ (Y, M of a `Design`): sG = diag(s) G, L = α I + sG
    (so that A Y = Y L), and LkG[j] = L diag(k_j) G for each effect j (M K_j M = Y diag(k_j) Yᵀ)."""

    alpha: float
    sG: np.ndarray
    L: np.ndarray
    LkG: dict[int, np.ndarray]


class Design:
    """The pairs of one condition, or of a condition and its control (`group` 0 and 1), and what they share:
    `tickets` and `units` (n × 2) are each pair's two tickets and the θ0s those grew from."""

    def __init__(self, tickets: np.ndarray, units: np.ndarray, group: np.ndarray):
        with one_blas_thread():
            self._build(np.asarray(tickets), np.asarray(units), np.asarray(group, dtype=np.int64))

    def _build(self, tickets: np.ndarray, units: np.ndarray, group: np.ndarray) -> None:
        self.group, self.n = group, len(group)
        self.groups = int(group.max()) + 1
        sizes = np.bincount(group, minlength=self.groups)
        self.w = np.where(group == 0, 1.0 / sizes[0], -1.0 / sizes[-1]) if self.groups == 2 else None
        self.clusters = _incidence(units, counts=False)  # C
        effects = [_incidence(tickets, counts=True)]  # Z
        blocks = [self.clusters * self.w[:, None] if self.w is not None else np.zeros((self.n, 0)), *effects]
        Y = np.concatenate([self.residuals(block) for block in blocks], axis=1)
        self.G = Y.T @ Y
        block = np.repeat(np.arange(len(blocks)), [b.shape[1] for b in blocks])
        self.kG = {j: self.G * (block == j)[:, None] for j in range(1, len(blocks))}  # diag(k_j) G: Z's block
        self.forms = [self._form(1.0, 0 * block), *(self._form(0.0, block == j) for j in self.kG)]
        moments = np.array([[self._expectation(form, j) for j in range(len(blocks))] for form in self.forms])
        self.components = self._identified(moments)
        self.moments = moments[np.ix_(self.components, self.components)]
        self.effects = [effects[j - 1] for j in self.components[1:]]
        if self.w is not None:
            meat = self._form(0.0, block == 0)
            forms = [meat, *(self.forms[j] for j in self.components)]
            self.true = np.array([self.w @ self.w] + [((e.T @ self.w) ** 2).sum() for e in self.effects])
            self.meat_expectation = np.array([self._expectation(meat, j) for j in self.components])
            self.covariance = np.array([[self._covariance(a, b) for b in forms] for a in forms])

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """M · values: each group's mean removed from its rows (columns of `values` are pair vectors)."""
        means = np.stack([values[self.group == g].mean(axis=0) for g in range(self.groups)])
        return values - means[self.group]

    def _form(self, alpha: float, s: np.ndarray) -> _Form:
        sG = self.G * np.asarray(s, dtype=float)[:, None]
        L = alpha * np.eye(len(self.G)) + sG
        return _Form(alpha, sG, L, {j: L @ kG for j, kG in self.kG.items()})

    def _expectation(self, form: _Form, j: int) -> float:
        """E[eᵀAe] / σ_j² under the working model: tr(A) for the pair noise, tr(A K_j) for an effect."""
        if j == 0:
            return form.alpha * (self.n - self.groups) + np.trace(form.sG)
        return np.trace(form.LkG[j])

    def _covariance(self, a: _Form, b: _Form) -> np.ndarray:
        """T with Cov(eᵀAe, eᵀBe) = 2 Σ_jl σ_j² σ_l² T_jl = 2 tr(AΩBΩ), over the identified components."""
        terms = np.zeros((len(self.components),) * 2)
        for (x, i), (y, j) in product(enumerate(self.components), repeat=2):
            if i == 0 and j == 0:  # tr(AB)
                plain = a.alpha * b.alpha * (self.n - self.groups) + a.alpha * np.trace(b.sG)
                terms[x, y] = plain + b.alpha * np.trace(a.sG) + _trace_of_product(a.sG, b.sG)
            elif i == 0 or j == 0:  # tr(A B K_j) = tr(L_a L_b k_j G)
                terms[x, y] = _trace_of_product(a.L, b.LkG[i or j])
            else:  # tr(A K_i B K_j) = tr(L_a k_i G L_b k_j G)
                terms[x, y] = _trace_of_product(a.LkG[i], b.LkG[j])
        return terms

    @staticmethod
    def _identified(moments: np.ndarray) -> list[int]:
        """The components the moment equations tell apart: ticket effects only where they are identified;
        none where no residual is left (one pair per condition)."""
        if moments[0, 0] <= 0:
            return []
        return [0, 1] if 1 / np.linalg.cond(moments) > _IDENTIFIED else [0]

    def fit(self, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(σ² of the identified components, batch × components; which of them were set to 0)."""
        e = self.residuals(distances.T).T
        y = np.stack(
            [(e**2).sum(axis=1), *(((e @ effect) ** 2).sum(axis=1) for effect in self.effects)], axis=1
        )
        sigma = np.zeros_like(y)
        truncated = np.zeros(y.shape, dtype=bool)
        for row in range(len(y)):
            active, solution = list(range(len(self.components))), np.zeros(0)
            while active:
                solution = np.linalg.solve(self.moments[np.ix_(active, active)], y[row, active])
                negative = [c for c, value in zip(active, solution, strict=True) if value < 0]
                if not negative:
                    break
                truncated[row, negative] = True
                active = [c for c in active if c not in negative]
            sigma[row, active] = solution if active else 0.0
        return sigma, truncated

    def slopes(self, dc: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        """∂c/∂y per row from ∂c/∂σ² (`dc`, batch × components): through the moment equations; where
        components were set to 0, the mean of that and the refitted equations' (the two one-sided
        derivatives of the positive part)."""
        full = dc @ np.linalg.inv(self.moments)
        for row in np.flatnonzero(truncated.any(axis=1)):
            active = np.flatnonzero(~truncated[row])
            refitted = np.zeros(len(self.components))
            if len(active):
                refitted[active] = dc[row, active] @ np.linalg.inv(self.moments[np.ix_(active, active)])
            full[row] = (1 - UNREFITTED_WEIGHT) * refitted + UNREFITTED_WEIGHT * full[row]
        return full

    def ticket_share(self, distances: np.ndarray) -> np.ndarray:
        """2σ_u² / (2σ_u² + σ_ε²) per row; NaN where σ_u² is not identified or the distances are constant."""
        if len(self.components) == 1 or self.n < 2:
            return np.full(len(distances), math.nan)
        sigma = self.fit(distances)[0]
        tickets = 2 * sigma[:, 1:].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tickets + sigma[:, 0] > 0, tickets / (tickets + sigma[:, 0]), math.nan)


def comparison_design(pairs: np.ndarray, control: np.ndarray, units: np.ndarray) -> Design:
    """The design of a condition's `pairs` (pairs × 2 ticket indices) against the `control`'s, the tickets'
    θ0s being `units[ticket]`."""
    both = np.concatenate([pairs, control])
    return Design(both, units[both], np.r_[np.zeros(len(pairs)), np.ones(len(control))])


def condition_design(pairs: np.ndarray, units: np.ndarray) -> Design:
    """The design of one condition's `pairs` alone (for its ticket share)."""
    return Design(pairs, units[pairs], np.zeros(len(pairs)))


@dataclass(frozen=True)
class TicketTest:
    """Per row of a batch: D, its 95 % interval, p_tickets, the degrees of freedom ν, and the variance V."""

    diff_mean: np.ndarray
    diff_ci_low: np.ndarray
    diff_ci_high: np.ndarray
    p_value: np.ndarray
    dof: np.ndarray
    variance: np.ndarray


def ticket_test(design: Design, distances: np.ndarray) -> TicketTest:
    """The condition (group 0) against the control (group 1) for each row of `distances` (batch × pairs)."""
    if design.w is None:
        raise ValueError("a ticket-level comparison needs two conditions (groups 0 and 1)")
    diff = distances @ design.w
    if not design.components:
        undefined = np.full(len(diff), math.nan)
        return TicketTest(diff, undefined, undefined, undefined, undefined, undefined)
    e = design.residuals(distances.T).T
    meat = (((e * design.w) @ design.clusters) ** 2).sum(axis=1)
    sigma, truncated = design.fit(distances)
    true, expected = sigma @ design.true, sigma @ design.meat_expectation
    with np.errstate(invalid="ignore", divide="ignore"):
        c = true / expected
        # the delta method over (V̂, y): ∂c/∂σ², then ∂σ²/∂y
        squared = expected[:, None] ** 2
        dc = (np.outer(expected, design.true) - np.outer(true, design.meat_expectation)) / squared
        dc_dy = design.slopes(dc, truncated)
        gradient = np.concatenate([c[:, None], meat[:, None] * dc_dy], axis=1)
        weights = 2 * sigma[:, :, None] * sigma[:, None, :]  # 2 σ_j² σ_l²
        covariance = np.einsum("abjl,rjl->rab", design.covariance, weights)
        dof = 2 * true**2 / np.einsum("ra,rab,rb->r", gradient, covariance, gradient)
        variance = c * meat
        valid = (variance > 0) & np.isfinite(variance) & (dof > 0) & np.isfinite(dof)
        se = np.sqrt(np.where(valid, variance, math.nan))
        dof = np.where(valid, dof, math.nan)
        p = 2 * scipy.stats.t.sf(np.abs(diff) / se, dof)
        half = scipy.stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se
    return TicketTest(diff, diff - half, diff + half, p, dof, np.where(valid, variance, math.nan))
