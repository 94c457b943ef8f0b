"""Compiled trust-region solve for symmetric tridiagonal matrices: O(n) per secular step.

``tridiagonal_trust_region(diag, off, b, lam0, q0, ball)`` returns the minimizer ``x (B, n)``,
the value ``(B,)`` of ``min xᵀTx + 2bᵀx`` on ``‖x‖ = 1`` (``ball``: ``≤ 1``) and a ``hard``
flag ``(B,)``, given each matrix's smallest eigenvalue ``lam0`` and its unit eigenvector ``q0``
(``tridiagonal_eigenpairs(diag, off, 0, 1)``, itself O(n)); the bottom eigenvalue must be
simple (unreduced tridiagonal matrices have simple eigenvalues; callers send rows the
eigen-kernels flag to a dense path).

Method (the same mathematics as the eigen backend's ``secular.py``, without the full
eigendecomposition): with ``t = λ_0 − μ > 0`` the shifted matrix ``T − μI`` is positive definite,
so its ``LDLᵀ`` factorization without pivoting is backward stable and costs O(n); one step
solves ``(T − μI)x = −b`` and ``(T − μI)w = x`` and takes Newton's step on
``h(t) = 1/‖x‖ − 1`` (``h' = xᵀw/‖x‖³``) inside the bracket ``|q_0ᵀb| ≤ t ≤ ‖b‖``, bisecting
when a step leaves it. Hard case (``|q_0ᵀb| ≤ 16nε·s``): ``x_p`` is solved at ``μ = λ_0 − δ``
(``δ = 16nε·s``, ``s = max(‖T‖, ‖b‖)``) with the ``q_0`` component removed, and if ``‖x_p‖ ≤ 1``,
``x = x_p + τq_0``. Ball: the interior point ``−T⁻¹b`` when ``λ_0 > 16nε·s`` and it is inside.
numpy + numba only; all arithmetic in float64.

``dense_reduction(A, b)`` / ``dense_back_transform``: for dense input the kernels' Householder
reduction ``A = QTQᵀ`` (``_compiled.householder_tridiagonal``, O(n³) once) turns the problem
into the tridiagonal one with ``Qᵀb``, and ``x = Q x_T`` maps the minimizer back (``‖x‖`` and the
value are unchanged: ``Q`` is orthogonal). Unlike the eigen-kernels it does not rescale ``A``
by a power of two, so entries beyond ~1e±150 are not supported here (callers route such rows,
flagged by the tridiagonal eigen-kernel, to the dense path).
"""

import math

import numpy as np
from numba import njit

# numba caches a caller with the callee compiled in: if _compiled.py changes, a stale copy of
# the reduction may be used here until this file changes too. Its storage contract (reflectors
# in W's rows, tau) is what this module relies on, and test_trust_region_kernel.py checks the
# result against LAPACK on fresh caches (CI).
from ._compiled import back_transform, householder_tridiagonal
from .threads import plan_threads, run_chunks

__all__ = ["tridiagonal_trust_region", "dense_reduction", "dense_back_transform"]

_JIT = dict(cache=True, nogil=True, error_model="numpy")
_EPS = 2.220446049250313e-16
_MAX_STEPS = 200


@njit(**_JIT)
def _ldl_solve(d, e, n, mu, rhs, out, D):
    """Solve ``(T − μI) out = rhs`` by ``LDLᵀ`` (no pivoting: ``T − μI`` positive definite)."""
    D[0] = d[0] - mu
    out[0] = rhs[0]
    for i in range(1, n):
        li = e[i - 1] / D[i - 1]
        D[i] = d[i] - mu - li * e[i - 1]
        out[i] = rhs[i] - li * out[i - 1]
    out[n - 1] = out[n - 1] / D[n - 1]
    for i in range(n - 2, -1, -1):
        out[i] = out[i] / D[i] - (e[i] / D[i]) * out[i + 1]


@njit(**_JIT)
def _dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i] * b[i]
    return s


@njit(**_JIT)
def _objective(d, e, b, x, n):
    s = 0.0
    for i in range(n):
        s += d[i] * x[i] * x[i] + 2.0 * b[i] * x[i]
    for i in range(n - 1):
        s += 2.0 * e[i] * x[i] * x[i + 1]
    return s


@njit(**_JIT)
def _secular(d, e, b, lam0, n, lo, hi, x, w, D, nb):
    """``x(t)`` at the root of ``h`` in ``[lo, hi]`` (module docstring); ``x`` is left unit."""
    t = hi
    for _ in range(_MAX_STEPS):
        _ldl_solve(d, e, n, lam0 - t, nb, x, D)
        norm = math.sqrt(_dot(x, x, n))
        h = 1.0 / norm - 1.0
        if h <= 0.0:
            lo = t
        if h >= 0.0:
            hi = t
        if abs(h) <= 4.0 * _EPS or hi - lo <= 4.0 * _EPS * hi:
            break
        _ldl_solve(d, e, n, lam0 - t, x, w, D)
        step = t - h * norm * norm * norm / _dot(x, w, n)
        if not (step > lo and step < hi):
            step = 0.5 * (lo + hi)
        t = step
    norm = math.sqrt(_dot(x, x, n))
    for i in range(n):
        x[i] /= norm


@njit(**_JIT)
def _batch(diag, off, b, lam0, q0, ball, r0, r1, X, values, hard):
    n = diag.shape[1]
    for r in range(r0, r1):
        d = diag[r]
        e = off[r]
        x = X[r]
        w = np.empty(n)
        D = np.empty(n)
        nb = np.empty(n)
        tnorm = 0.0
        for i in range(n):
            row = abs(d[i]) + (abs(e[i - 1]) if i > 0 else 0.0) + (abs(e[i]) if i < n - 1 else 0.0)
            tnorm = max(tnorm, row)
        bnorm = math.sqrt(_dot(b[r], b[r], n))
        tol = 16.0 * n * _EPS * max(tnorm, bnorm, 1e-300)
        for i in range(n):
            nb[i] = -b[r, i]
        done = False
        if ball and lam0[r] > tol:
            _ldl_solve(d, e, n, 0.0, nb, x, D)
            done = _dot(x, x, n) <= 1.0
        beta0 = _dot(q0[r], b[r], n)
        if not done and abs(beta0) <= tol:
            for i in range(n):
                w[i] = nb[i] + beta0 * q0[r, i]  # −b with its q_0 component removed
            _ldl_solve(d, e, n, lam0[r] - tol, w, x, D)
            along = _dot(q0[r], x, n)
            for i in range(n):
                x[i] -= along * q0[r, i]
            pp = _dot(x, x, n)
            if pp <= 1.0:
                tau = math.sqrt(1.0 - pp)
                sign = -1.0 if beta0 > 0 else 1.0
                for i in range(n):
                    x[i] += sign * tau * q0[r, i]
                hard[r] = True
                done = True
        if not done:
            _secular(d, e, b[r], lam0[r], n, abs(beta0), max(bnorm, abs(beta0)), x, w, D, nb)
        values[r] = _objective(d, e, b[r], x, n)


def _rows(kernel, B: int, work: float) -> None:
    """Run ``kernel(r0, r1)`` over the rows of a batch on the kernels' thread pool."""
    nrows = max(B, 1)

    def chunk(c0, c1, nchunks):
        kernel(c0 * nrows // nchunks, c1 * nrows // nchunks)

    run_chunks(chunk, B, plan_threads(work, B))


def tridiagonal_trust_region(diag, off, b, lam0, q0, ball=False):
    """``(x (B, n), value (B,), hard (B,) bool)`` for a batch (module docstring); float64 in
    and out (other float input is converted)."""
    diag = np.ascontiguousarray(diag, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    if diag.ndim != 2 or b.shape != diag.shape:
        raise ValueError(f"diag and b must both have shape (B, n), got {diag.shape}, {b.shape}")
    B, n = diag.shape
    off = np.ascontiguousarray(off, dtype=np.float64).reshape(B, max(n - 1, 0))
    lam0 = np.ascontiguousarray(lam0, dtype=np.float64).reshape(B)
    q0 = np.ascontiguousarray(q0, dtype=np.float64).reshape(B, n)
    X = np.zeros((B, n))
    values = np.zeros(B)
    hard = np.zeros(B, dtype=np.bool_)
    if B and n:
        ball = bool(ball)
        _rows(lambda r0, r1: _batch(diag, off, b, lam0, q0, ball, r0, r1, X, values, hard),
              B, B * n * 60)
    return X, values, hard


@njit(**_JIT)
def _reduce(A, W, d, e, tau, bT, r0, r1):
    n = A.shape[1]
    for r in range(r0, r1):
        p = np.empty(max(n, 1))
        vn = np.empty(2 * max(n, 1))
        for i in range(n):
            for j in range(n):
                W[r, i, j] = A[r, i, j]
        householder_tridiagonal(W[r], n, d[r], e[r], tau[r], p, vn)
        # Qᵀb = H_{n-3} ⋯ H_0 b (each H_j symmetric): the reflectors in forward order
        z = bT[r]
        for j in range(n - 2):
            tj = tau[r, j]
            if tj == 0.0:
                continue
            s = 0.0
            for t in range(n - j - 1):
                s += W[r, j, j + 1 + t] * z[j + 1 + t]
            s *= tj
            for t in range(n - j - 1):
                z[j + 1 + t] -= s * W[r, j, j + 1 + t]


@njit(**_JIT)
def _back(W, tau, X, r0, r1):
    for r in range(r0, r1):
        back_transform(W[r], X.shape[1], tau[r], X[r])


def dense_reduction(A, b):
    """``(diag, off, Qᵀb, reflectors)`` of ``A = QTQᵀ`` for a batch ``A (B, n, n)``, ``b (B, n)``;
    ``reflectors`` is what ``dense_back_transform`` needs."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    B, n = A.shape[0], A.shape[-1]
    W = np.empty_like(A)
    d, e = np.zeros((B, n)), np.zeros((B, max(n - 1, 0)))
    e_work = np.zeros((B, max(n, 1)))  # the reduction writes e with a spare slot
    tau = np.zeros((B, max(n, 1)))
    bT = np.array(b, dtype=np.float64, copy=True).reshape(B, n)
    if B and n:
        _rows(lambda r0, r1: _reduce(A, W, d, e_work, tau, bT, r0, r1), B, B * n**3)
        e[:] = e_work[:, : max(n - 1, 0)]
    return d, e, bT, (W, tau)


def dense_back_transform(reflectors, X):
    """``Q X`` row by row for the ``reflectors`` of ``dense_reduction`` (``X (B, n)``)."""
    W, tau = reflectors
    X = np.array(X, dtype=np.float64, copy=True)
    if X.size:
        _rows(lambda r0, r1: _back(W, tau, X, r0, r1), X.shape[0], X.size * X.shape[1])
    return X
