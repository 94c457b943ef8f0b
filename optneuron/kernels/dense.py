"""Batch kernel for eigenpairs lo..hi-1 of dense symmetric matrices.

Householder reduction to tridiagonal form on a full square float64 copy (contiguous rank-2
updates), the tridiagonal driver, then back-transformation of only the wanted vectors.
"""

import math

import numpy as np
from numba import njit, prange

from ._core import (
    FAILED,
    RESID_C,
    chunk_bounds,
    scale_exponent,
    scratch,
    sign_fix,
    solve_scaled,
    zero_matrix,
)
from ._sturm import EPS
from .tridiagonal import _check_range, _nchunks

_FAST = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)


@njit(**_FAST)
def householder_tridiagonal(W, n, d, e, tau, p):
    """Reduce symmetric W (n, n) to T = Q^T W Q in place; Q = H_0 ... H_{n-3}.

    H_j = I - tau[j] v v^T acts on rows/columns j+1..n-1, with v = (1, W[j, j+2:]) stored in row j
    (which the later steps no longer touch).
    """
    for j in range(n - 2):
        mm = n - j - 1
        row = W[j, j + 1:]
        alpha = row[0]
        xn2 = 0.0
        for t in range(1, mm):
            xn2 += row[t] * row[t]
        d[j] = W[j, j]
        if xn2 == 0.0:
            tau[j] = 0.0
            e[j] = alpha
            continue
        beta = -math.copysign(math.sqrt(alpha * alpha + xn2), alpha)
        tj = (beta - alpha) / beta
        sc = 1.0 / (alpha - beta)
        row[0] = 1.0
        for t in range(1, mm):
            row[t] *= sc
        tau[j] = tj
        e[j] = beta
        v = row
        # p = tau * W22 v, then w = p - (tau/2)(p.v) v, W22 -= v w^T + w v^T
        pv = 0.0
        for i in range(mm):
            wr = W[j + 1 + i, j + 1:]
            s = 0.0
            for t in range(mm):
                s += wr[t] * v[t]
            s *= tj
            p[i] = s
            pv += s * v[i]
        k = -0.5 * tj * pv
        for i in range(mm):
            p[i] += k * v[i]
        for i in range(mm):
            wr = W[j + 1 + i, j + 1:]
            vi = v[i]
            wi = p[i]
            for t in range(mm):
                wr[t] -= vi * p[t] + wi * v[t]
    if n >= 2:
        d[n - 2] = W[n - 2, n - 2]
        e[n - 2] = W[n - 2, n - 1]
    d[n - 1] = W[n - 1, n - 1]


@njit(**_FAST)
def back_transform(W, n, tau, z):
    """z <- Q z with the reflectors stored by householder_tridiagonal."""
    for j in range(n - 3, -1, -1):
        tj = tau[j]
        if tj == 0.0:
            continue
        mm = n - j - 1
        v = W[j, j + 1:]
        zs = z[j + 1:]
        s = 0.0
        for t in range(mm):
            s += v[t] * zs[t]
        s *= tj
        for t in range(mm):
            zs[t] -= s * v[t]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _dense_batch(A, lo, hi, vectors, nchunks, vals, vecs, suspect):
    B = A.shape[0]
    n = A.shape[1]
    m = hi - lo
    for c in prange(nchunks):
        b0, b1 = chunk_bounds(c, nchunks, B)
        d, e, e2, lam, Z, ws = scratch(n, m, vectors)
        W = np.empty((n, n))
        tau = np.zeros(max(n, 1))
        p = np.empty(max(n, 1))
        for b in range(b0, b1):
            Ab = A[b]
            amax = 0.0
            for i in range(n):
                ar = Ab[i]
                for t in range(n):
                    amax = max(amax, abs(np.float64(ar[t])))
            if not amax < math.inf:
                status = FAILED
                for j in range(m):
                    lam[j] = math.nan
                    if vectors:
                        for i in range(n):
                            Z[j, i] = math.nan
            elif amax == 0.0:
                status = zero_matrix(n, lo, hi, vectors, lam, Z)
            else:
                pexp = scale_exponent(amax)
                s = math.ldexp(1.0, -pexp)
                for i in range(n):
                    ar = Ab[i]
                    wr = W[i]
                    for t in range(n):
                        wr[t] = np.float64(ar[t]) * s
                householder_tridiagonal(W, n, d, e, tau, p)
                status = solve_scaled(d, e, e2, n, lo, hi, vectors, lam, Z, ws)
                if vectors and status & FAILED == 0:
                    rmax = RESID_C * n * EPS * _inf_norm(Ab, n, s)
                    for j in range(m):
                        z = Z[j]
                        back_transform(W, n, tau, z)
                        if _dense_residual(Ab, n, s, lam[j], z, p) > rmax:
                            status |= FAILED
                for j in range(m):
                    lam[j] = math.ldexp(lam[j], pexp)
            suspect[b] = status != 0
            for j in range(m):
                vals[b, j] = lam[j]
            if vectors:
                for j in range(m):
                    z = Z[j]
                    sign_fix(z, n)
                    for i in range(n):
                        vecs[b, i, j] = z[i]


@njit(**_FAST)
def _inf_norm(Ab, n, s):
    r = 0.0
    for i in range(n):
        ar = Ab[i]
        t = 0.0
        for k in range(n):
            t += abs(np.float64(ar[k]))
        r = max(r, t * s)
    return r


@njit(**_FAST)
def _dense_residual(Ab, n, s, lam, z, tmp):
    """||s*A z - lam z||_2 for the original (unscaled, possibly float32) rows of A."""
    r = 0.0
    for i in range(n):
        ar = Ab[i]
        t = 0.0
        for k in range(n):
            t += np.float64(ar[k]) * z[k]
        t = t * s - lam * z[i]
        r += t * t
    return math.sqrt(r)


def dense_eigenpairs(A, lo, hi, vectors=True):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each dense symmetric matrix in a batch.

    A: (B, n, n) float32 or float64, assumed exactly symmetric (only the full matrix is read;
    the caller symmetrizes). Returns (values (B, hi-lo), vecs (B, n, hi-lo) or None,
    suspect (B,) bool) in the input dtype; vecs[b, :, j] belongs to values[b, j] (numpy.linalg.eigh
    column convention).
    """
    A = np.asarray(A)
    if A.dtype not in (np.float32, np.float64):
        raise TypeError(f"A must be float32 or float64, got {A.dtype}")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (B, n, n), got {A.shape}")
    B, n, _ = A.shape
    lo, hi = _check_range(n, lo, hi)
    m = hi - lo
    dt = A.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    suspect = np.zeros(B, dtype=np.bool_)
    if B == 0 or m == 0:
        return vals, vecs, suspect
    A = np.ascontiguousarray(A)
    dummy = vecs if vectors else np.empty((0, 0, 0), dtype=dt)
    _dense_batch(A, lo, hi, bool(vectors), _nchunks(B), vals, dummy, suspect)
    return vals, vecs, suspect
