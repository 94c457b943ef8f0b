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
"""

import math

import numpy as np
from numba import njit, prange

__all__ = ["tridiagonal_trust_region"]

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


@njit(parallel=True, **_JIT)
def _batch(diag, off, b, lam0, q0, ball, X, values, hard):
    B, n = diag.shape
    for r in prange(B):
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
        _batch(diag, off, b, lam0, q0, bool(ball), X, values, hard)
    return X, values, hard
