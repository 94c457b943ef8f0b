"""Independent float64 references for ``verify``: values, and how far a gradient or a lifted
solution is from the set of correct ones.

* Spectral problems: ``numpy.linalg.eigh``; gradients and ``X`` measured by
  ``subdifferential_distance`` (the Clarke subdifferential, exact at repeated eigenvalues)
  or against the closed form ``Q diag(w) Qᵀ`` when smoothed.
* ``TrustRegion``: ``numpy.linalg.eigh`` and ``scipy.optimize.brentq`` on the secular
  equation (a different root finder from the eigen backend's Newton iteration), the hard
  case by the pseudo-inverse. Where the minimizer ``x*`` is unique the error of
  ``(G_A, G_b)`` is ``‖G_A − x*x*ᵀ‖_F + ‖G_b − 2x*‖``; in the hard case it is how far
  ``(X, x) = (G_A, G_b/2)`` is from an optimal point of the tight S-lemma SDP — its objective
  gap (relative), its negative eigenvalues of ``[[X, x], [xᵀ, 1]]`` and its trace residual —
  which is zero exactly on the superdifferential (theory/trust-region-neuron.md).
* ``GeneralizedSphereQP``: ``scipy.linalg.eigh(A, B)``; with ``B = LLᵀ`` a gradient ``G_A``
  is measured as ``LᵀG_AL`` against the subdifferential of the reduced matrix
  ``C = L⁻¹AL⁻ᵀ``, plus ``‖Lᵀ(G_B + λ_k G_A)L‖`` (``∂/∂B = −λ ∂/∂A``).
* ``EigenvalueMixture``: ``numpy.linalg.eigh``; ``G_w`` against ``λ`` (``λ^α`` smoothed, from
  ``SphereQP(k, α)``'s closed form), ``G_A`` against the Clarke subdifferential of ``⟨w, λ⟩``
  (``mixture_distance``; smoothed: the closed form ``Q diag(W) Qᵀ``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from .problems import EigenvalueMixture, GeneralizedSphereQP, SphereQP, TrustRegion
from .smoothing import capped_simplex_projection, fantope_envelope

__all__ = [
    "DerivativeReference",
    "qp_derivative_reference",
    "Reference",
    "reference_for",
    "subdifferential_distance",
    "mixture_distance",
    "hard_trust_region_data",
]


@dataclass
class Reference:
    """A float64 reference for a flat batch: ``value (N,)``, the error scale ``scale (N,)``,
    ``clustered (N,)`` (rows where the solution is not unique), and the error measures of a
    backend's gradients (one array per datum) and of its ``(X, x)``."""

    value: np.ndarray
    scale: np.ndarray
    clustered: np.ndarray
    gradient_distance: Callable[[tuple], float]
    solution_distance: Callable[[np.ndarray, np.ndarray | None], float]


def reference_for(problem, data64: tuple, cluster_tol: float) -> Reference:
    """The reference for ``problem`` on flat float64 numpy data."""
    if isinstance(problem, TrustRegion):
        return _trust_region_reference(problem, *data64)
    if isinstance(problem, GeneralizedSphereQP):
        return _generalized_reference(problem, *data64, cluster_tol)
    if isinstance(problem, EigenvalueMixture):
        return _mixture_reference(problem, *data64, cluster_tol)
    return _spectral_reference(problem, *data64, cluster_tol)


def _clusters(mu: np.ndarray, tol: float) -> list[np.ndarray]:
    """Index groups of consecutive eigenvalues whose neighbour gaps are at most ``tol``."""
    breaks = np.flatnonzero(np.diff(mu) > tol) + 1
    return np.split(np.arange(len(mu)), breaks)


def _project_capped_spectraplex(W: np.ndarray, c: int) -> np.ndarray:
    """Frobenius projection of symmetric ``W`` onto ``{0 ⪯ V ⪯ I, tr V = c}``."""
    s, V = np.linalg.eigh((W + W.T) / 2)
    p = capped_simplex_projection(torch.from_numpy(s), float(c)).numpy()
    return (V * p) @ V.T


def subdifferential_distance(
    G: np.ndarray, Q: np.ndarray, mu: np.ndarray, lo: int, hi: int, tol: float
) -> float:
    """Distance of ``G`` from the Clarke subdifferential of ``Σ_{lo≤j<hi} λ_j``.

    The matrix is ``Q diag(mu) Qᵀ``; eigenvalues within ``tol`` of a neighbour are repeated.
    """
    Gt = Q.T @ ((G + G.T) / 2) @ Q
    target = np.zeros_like(Gt)
    for C in _clusters(mu, tol):
        c = int(np.count_nonzero((C >= lo) & (C < hi)))
        if c == len(C):
            target[np.ix_(C, C)] = np.eye(len(C))
        elif c > 0:
            target[np.ix_(C, C)] = _project_capped_spectraplex(Gt[np.ix_(C, C)], c)
    return float(np.linalg.norm(Gt - target))


def _spectral_reference(problem, A64: np.ndarray, cluster_tol: float) -> Reference:
    """LAPACK's eigenpairs; gradients and ``X`` measured by ``subdifferential_distance`` (exact
    problems) or against the closed form ``Q diag(w) Qᵀ`` (smoothed ones)."""
    mu, Q = np.linalg.eigh(A64)
    n = A64.shape[-1]
    lo, hi = problem.eigen_range(n)
    if problem.smoothing is None:
        value, w = mu[:, lo:hi].sum(-1), None
    else:
        mu_t = torch.from_numpy(mu)
        value, wt = torch.zeros(mu.shape[0], dtype=torch.float64), torch.zeros_like(mu_t)
        for term in problem.fantope_terms(n):
            v, w_term = fantope_envelope(mu_t, term.count, term.largest, problem.smoothing)
            value, wt = value + term.coef * v, wt + term.coef * w_term
        value, w = value.numpy(), wt.numpy()
    scale = np.maximum(1.0, np.abs(mu).max(-1)) if mu.size else np.ones(0)
    tols = cluster_tol * scale
    clustered = np.array([len(_clusters(m, t)) < n for m, t in zip(mu, tols)], dtype=bool)

    def distance(G: np.ndarray) -> float:
        if w is not None:
            targets = (Q * w[:, None, :]) @ Q.transpose(0, 2, 1)
            return float(np.linalg.norm(G - targets, axis=(-2, -1)).max(initial=0.0))
        rows = (subdifferential_distance(G[b], Q[b], mu[b], lo, hi, tols[b]) for b in range(len(G)))
        return max(rows, default=0.0)

    return Reference(
        value=value, scale=scale, clustered=clustered,
        gradient_distance=lambda grads: distance(grads[0]),
        solution_distance=lambda X, x: distance(X),
    )


def _secular_row(lam: np.ndarray, beta: np.ndarray, ball: bool):
    """``(y, hard)``: the minimizer's eigen-coordinates for one row, and whether it is the
    hard case (the minimizer is then not unique)."""
    n = len(lam)
    scale = max(np.abs(lam).max(), np.linalg.norm(beta), np.finfo(float).tiny)
    d = lam - lam[0]
    bottom = d <= 16 * n * np.finfo(float).eps * scale
    d[bottom] = 0.0
    if ball and lam[0] > 16 * n * np.finfo(float).eps * scale:
        y = -beta / lam
        if y @ y <= 1:
            return y, False
    pinv = np.where(bottom, 0.0, -beta / np.where(bottom, 1.0, d))
    c = np.linalg.norm(beta[bottom])
    if c <= 16 * n * np.finfo(float).eps * scale and pinv @ pinv <= 1:
        y = pinv.copy()
        y[0] = math.sqrt(max(0.0, 1 - pinv @ pinv))
        return y, True

    def h(t):
        return 1.0 / np.linalg.norm(beta / (d + t)) - 1.0

    lo, hi = max(c, np.finfo(float).tiny), max(np.linalg.norm(beta), c)
    t = hi if h(hi) <= 0 else scipy.optimize.brentq(h, lo, hi, xtol=1e-300, rtol=1e-15)
    y = -beta / (d + t)
    return y / np.linalg.norm(y), False


def _lift_error(A, b, v, scale, X, x, ball):
    """How far ``(X, x)`` is from an optimal point of the S-lemma SDP (module docstring)."""
    X = (X + X.T) / 2
    Y = np.block([[X, x[:, None]], [x[None, :], np.ones((1, 1))]])
    gap = abs(np.sum(A * X) + 2 * b @ x - v) / scale
    trace = np.trace(X) - 1
    return gap + max(0.0, -np.linalg.eigvalsh(Y)[0]) + (max(0.0, trace) if ball else abs(trace))


def _trust_region_minimizers(problem, A: np.ndarray, b: np.ndarray):
    """``(λ, β = Qᵀb, y = Qᵀx, x, hard)`` for a flat batch, by ``_secular_row``."""
    lam, Q = np.linalg.eigh(A)
    beta = np.einsum("bji,bj->bi", Q, b)
    rows = [_secular_row(lam[i], beta[i], problem.ball) for i in range(len(b))]
    y = np.array([r[0] for r in rows]).reshape(b.shape)
    hard = np.array([r[1] for r in rows], dtype=bool)
    return lam, beta, y, np.einsum("bij,bj->bi", Q, y), hard


def _trust_region_reference(problem, A: np.ndarray, b: np.ndarray) -> Reference:
    lam, beta, y, x, hard = _trust_region_minimizers(problem, A, b)
    value = np.einsum("bi,bi->b", lam, y * y) + 2 * np.einsum("bi,bi->b", beta, y)
    scale = np.maximum(1.0, np.maximum(np.abs(lam).max(-1, initial=0), np.linalg.norm(b, axis=-1)))

    def error(X, xs):
        worst = 0.0
        for i in range(len(b)):
            if hard[i]:
                e = _lift_error(A[i], b[i], value[i], scale[i], X[i], xs[i], problem.ball)
            else:
                e = np.linalg.norm((X[i] + X[i].T) / 2 - np.outer(x[i], x[i])) \
                    + np.linalg.norm(xs[i] - x[i])
            worst = max(worst, float(e))
        return worst

    return Reference(
        value=value, scale=scale, clustered=hard,
        gradient_distance=lambda grads: error(grads[0], grads[1] / 2),
        solution_distance=lambda X, xs: error(X, xs if xs is not None else x),
    )


def _generalized_reference(problem, A: np.ndarray, B: np.ndarray, cluster_tol: float):
    n = A.shape[-1]
    pairs = [scipy.linalg.eigh(A[i], B[i]) for i in range(len(A))]
    mu = np.array([p[0] for p in pairs]).reshape(len(A), n)
    L = np.linalg.cholesky(B) if len(B) else np.zeros_like(B)
    Qc = np.array([L[i].T @ pairs[i][1] for i in range(len(A))]).reshape(A.shape)
    reduced = problem.reduced
    lo, hi = reduced.eigen_range(n)
    if problem.smoothing is None:
        value, w = mu[:, lo:hi].sum(-1), None
    else:
        value, w = _smoothed(reduced, mu)
    scale = np.maximum(1.0, np.abs(mu).max(-1)) if mu.size else np.ones(0)
    tols = cluster_tol * scale
    clustered = np.array([len(_clusters(m, t)) < n for m, t in zip(mu, tols)], dtype=bool)

    def a_error(i, G):
        Y = L[i].T @ ((G + G.T) / 2) @ L[i]
        if w is None:
            return subdifferential_distance(Y, Qc[i], mu[i], lo, hi, tols[i])
        return np.linalg.norm(Y - (Qc[i] * w[i]) @ Qc[i].T)

    def b_error(i, GA, GB):
        GA, GB = (GA + GA.T) / 2, (GB + GB.T) / 2
        if w is None:
            return np.linalg.norm(L[i].T @ (GB + mu[i, lo] * GA) @ L[i])
        return np.linalg.norm(L[i].T @ GB @ L[i] + (Qc[i] * (w[i] * mu[i])) @ Qc[i].T)

    def gradient_distance(grads):
        GA, GB = grads
        return max((float(a_error(i, GA[i]) + b_error(i, GA[i], GB[i])) for i in range(len(A))),
                   default=0.0)

    return Reference(
        value=value, scale=scale, clustered=clustered, gradient_distance=gradient_distance,
        solution_distance=lambda X, x: max(
            (float(a_error(i, X[i])) for i in range(len(A))), default=0.0),
    )


@dataclass
class DerivativeReference:
    """The float64 reference for ``∂⟨C, X⟩/∂(data)`` of ``TrustRegion`` / an exact
    ``GeneralizedSphereQP``: ``grads`` (one array per datum; zeros off ``rows``), the rows where
    ``X`` is differentiable, each row's conditioning ``gap`` (relative to the data's scale),
    and ``fd_error``: the formula against central differences of the reference solver."""

    grads: tuple
    rows: np.ndarray
    gap: np.ndarray
    fd_error: np.ndarray


def qp_derivative_reference(problem, data: tuple, C: np.ndarray) -> DerivativeReference | None:
    """``DerivativeReference`` for flat float64 ``data`` and a symmetric ``C (N, n, n)``, from
    the formulas of theory/solution-derivatives.md (sections 5 and 6) evaluated at the
    reference solvers' points (``_secular_row``; ``scipy.linalg.eigh(A, B)``) with numpy;
    ``None`` for problems it does not cover (smoothed generalized ones)."""
    E = np.random.default_rng(1).standard_normal(data[0].shape)
    direction = [(E + np.swapaxes(E, -1, -2)) / 2]
    for datum in data[1:]:
        F = np.random.default_rng(2).standard_normal(datum.shape)
        direction.append((F + np.swapaxes(F, -1, -2)) / 2 if F.ndim == 3 else F)
    if isinstance(problem, TrustRegion):
        grads, rows, gap = _trust_region_derivative(problem, *data, C)

        def objective(A, b):
            x = _trust_region_minimizers(problem, A, b)[3]
            return np.einsum("bi,bij,bj->b", x, C, x)
    elif isinstance(problem, GeneralizedSphereQP) and problem.smoothing is None:
        grads, rows, gap = _generalized_derivative(problem, *data, C)

        def objective(A, B):
            k = problem.reduced.resolve_index(A.shape[-1])
            x = np.array([scipy.linalg.eigh(A[i], B[i])[1][:, k] for i in range(len(A))])
            return np.einsum("bi,bij,bj->b", x.reshape(A.shape[:-1]), C, x.reshape(A.shape[:-1]))
    else:
        return None
    h = 1e-6
    up = objective(*(d + h * e for d, e in zip(data, direction)))
    down = objective(*(d - h * e for d, e in zip(data, direction)))
    directional = sum((g * e).reshape(len(g), -1).sum(-1) for g, e in zip(grads, direction))
    fd_error = np.abs((up - down) / (2 * h) - directional) / np.maximum(1.0, np.abs(directional))
    return DerivativeReference(grads, rows, gap, fd_error)


def _trust_region_derivative(problem, A, b, C):
    """Section 5: ``w = M⁻¹(g − cx)``, ``∂/∂b = −w``, ``∂/∂A = −sym(wxᵀ)``, ``g = 2Cx``."""
    lam, _, _, x, hard = _trust_region_minimizers(problem, A, b)
    n = b.shape[-1]
    mu = np.einsum("bi,bij,bj->b", x, A, x) + np.einsum("bi,bi->b", b, x)
    size = np.maximum(1.0, np.maximum(np.abs(lam).max(-1, initial=0), np.linalg.norm(b, axis=-1)))
    norm = np.linalg.norm(x, axis=-1)
    interior = problem.ball & (norm * norm < 1 - 1e-10)
    kink = -mu if problem.ball else np.full_like(mu, np.inf)
    gap = np.where(interior, np.minimum(lam[:, 0], 1 - norm), np.minimum(lam[:, 0] - mu, kink))
    gap = gap / size
    rows = ~hard & (gap > 1e-8)
    gA, gb = np.zeros_like(A), np.zeros_like(b)
    for i in np.flatnonzero(rows):
        M = A[i] - (0.0 if interior[i] else mu[i]) * np.eye(n)
        v, u = np.linalg.solve(M, np.stack([2 * C[i] @ x[i], x[i]], axis=-1)).T
        w = v - (0.0 if interior[i] else (v @ x[i]) / (u @ x[i])) * u
        gA[i] = -(np.outer(w, x[i]) + np.outer(x[i], w)) / 2
        gb[i] = -w
    return (gA, gb), rows, gap


def _generalized_derivative(problem, A, B, C):
    """Section 6's adjoint: ``v = Σ_{j≠k} x_j (x_jᵀg)/(λ_k − λ_j)``, ``g = 2Cx_k``;
    ``∂/∂A = sym(vx_kᵀ)``, ``∂/∂B = −λ_k sym(vx_kᵀ) − ½(gᵀx_k) x_kx_kᵀ``."""
    N, n = A.shape[0], A.shape[-1]
    k = problem.reduced.resolve_index(n)
    gA, gB, gap = np.zeros_like(A), np.zeros_like(B), np.zeros(N)
    for i in range(N):
        lam, X = scipy.linalg.eigh(A[i], B[i])
        others = [j for j in range(n) if j != k]
        gap[i] = np.abs(lam[k] - lam[others]).min(initial=np.inf) / max(1.0, np.abs(lam).max())
        if gap[i] <= 1e-8:
            continue
        x, g = X[:, k], 2 * C[i] @ X[:, k]
        v = X[:, others] @ ((X[:, others].T @ g) / (lam[k] - lam[others]))
        vx = (np.outer(v, x) + np.outer(x, v)) / 2
        gA[i], gB[i] = vx, -lam[k] * vx - 0.5 * (g @ x) * np.outer(x, x)
    return (gA, gB), gap > 1e-8, gap


def mixture_distance(G: np.ndarray, Q: np.ndarray, mu: np.ndarray, w: np.ndarray,
                     tol: float) -> float:
    """Distance of ``G`` from the Clarke subdifferential of ``⟨w, λ⟩`` at ``Q diag(mu) Qᵀ``.

    In the eigenbasis the set is block diagonal over clusters ``C`` (eigenvalues within
    ``tol``), each block in ``conv{V diag(w_C) Vᵀ : V orthogonal}`` — the symmetric matrices
    whose eigenvalues are majorized by ``w_C`` (Schur–Horn). The measure adds the off-block
    part, each block's trace error and its majorization violations (zero exactly on the set).
    """
    Gt = Q.T @ ((G + G.T) / 2) @ Q
    error = Gt.copy()
    violation = 0.0
    for C in _clusters(mu, tol):
        block = Gt[np.ix_(C, C)]
        error[np.ix_(C, C)] = 0.0
        got = np.sort(np.linalg.eigvalsh(block))[::-1].cumsum()
        want = np.sort(w[C])[::-1].cumsum()
        violation += abs(got[-1] - want[-1]) + np.maximum(got[:-1] - want[:-1], 0.0).sum()
    return float(np.linalg.norm(error) + violation)


def _mixture_reference(problem, A: np.ndarray, w: np.ndarray, cluster_tol: float) -> Reference:
    mu, Q = np.linalg.eigh(A)
    n = A.shape[-1]
    if problem.smoothing is None:
        ell, W = mu, None
    else:
        pieces = [_smoothed(SphereQP(k, smoothing=problem.smoothing), mu) for k in range(n)]
        ell = np.stack([p[0] for p in pieces], -1)
        W = sum(w[:, k: k + 1] * pieces[k][1] for k in range(n))
    value = (ell * w).sum(-1)
    scale = np.maximum(1.0, np.abs(mu).max(-1) * np.maximum(1.0, np.abs(w).sum(-1))) \
        if mu.size else np.ones(0)
    tols = cluster_tol * np.maximum(1.0, np.abs(mu).max(-1, initial=0.0))
    clustered = np.array([len(_clusters(m, t)) < n for m, t in zip(mu, tols)], dtype=bool)

    def a_error(i, G):
        if W is None:
            return mixture_distance(G, Q[i], mu[i], w[i], tols[i])
        return float(np.linalg.norm((G + G.T) / 2 - (Q[i] * W[i]) @ Q[i].T))

    def gradient_distance(grads):
        GA, Gw = grads
        return max((a_error(i, GA[i]) + float(np.abs(Gw[i] - ell[i]).max())
                    for i in range(len(A))), default=0.0)

    return Reference(
        value=value, scale=scale, clustered=clustered, gradient_distance=gradient_distance,
        solution_distance=lambda X, x: max((a_error(i, X[i]) for i in range(len(A))),
                                           default=0.0),
    )


def _smoothed(problem, mu: np.ndarray):
    n = mu.shape[-1]
    mu_t = torch.from_numpy(mu)
    value, w = torch.zeros(mu.shape[0], dtype=torch.float64), torch.zeros_like(mu_t)
    for term in problem.fantope_terms(n):
        v, w_term = fantope_envelope(mu_t, term.count, term.largest, problem.smoothing)
        value, w = value + term.coef * v, w + term.coef * w_term
    return value.numpy(), w.numpy()


def hard_trust_region_data(n: int, batch: int, generator: torch.Generator):
    """``(A, b)`` in the trust-region hard case: ``λ_0 = −1`` (double when ``n ≥ 2``), the other
    eigenvalues in ``[0.5, 2]``, ``b ⟂`` the bottom eigenspace with ``‖(A − λ_0 I)⁺b‖ ≤ 0.2``."""
    G = torch.randn(batch, n, n, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)
    mu = 0.5 + 1.5 * torch.rand(batch, n, generator=generator, dtype=torch.float64)
    mult = min(2, n)
    mu[:, :mult] = -1.0
    coef = torch.randn(batch, n, generator=generator, dtype=torch.float64)
    coef[:, :mult] = 0.0
    coef = 0.2 * 1.5 * coef / coef.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    A = (Q * mu.unsqueeze(-2)) @ Q.mT
    return (A + A.mT) / 2, (Q @ coef.unsqueeze(-1)).squeeze(-1)
