"""Per-matrix driver shared by the tridiagonal and dense kernels (scaled float64 tridiagonal)."""

import math

import numpy as np
from numba import njit

from ._inverse import inverse_iteration
from ._sturm import EPS, gershgorin, kth_eigenvalue, sturm_count

#: eigenvalues closer than this (relative to ||T||) count as a cluster -> suspect
CLUSTER_RTOL = 1e-8
#: eigenvalues closer than this (relative to ||T||) have their vectors orthogonalized together
ORTHO_RTOL = 1e-3
#: runtime safety net: residual ||Tq - lam q|| above RESID_C * n * eps * ||T|| -> suspect
RESID_C = 16.0

OK = 0
CLUSTERED = 1
FAILED = 2

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def scale_exponent(amax):
    """Exponent p such that amax * 2**-p lies in [0.5, 1); clamped so 2**-p stays finite."""
    _, p = math.frexp(amax)
    if p < -1020:
        p = -1020
    return p


@njit(**_JIT)
def solve_scaled(d, e, e2, n, lo, hi, vectors, lam, Z, ws):
    """Eigenvalues lo..hi-1 of the tridiagonal (d, e) (entries <= 1 in magnitude, not all 0)
    into lam[:hi-lo]; unit eigenvectors into the rows Z[:hi-lo, :n] if vectors.
    Returns OK, CLUSTERED or FAILED (a bit set: CLUSTERED | FAILED possible)."""
    m = hi - lo
    if n == 1:
        lam[0] = d[0]
        if vectors:
            Z[0, 0] = 1.0
        return OK
    for i in range(n - 1):
        e2[i] = e[i] * e[i]
    gl, gu, tnorm = gershgorin(d, e, n)
    status = OK
    a = gl
    for j in range(m):
        k = lo + j
        x, conv = kth_eigenvalue(d, e2, n, k, a, gu, tnorm)
        if not conv or not math.isfinite(x):
            status |= FAILED
        lam[j] = x
        # next eigenvalue is >= this one; back off by the attainable accuracy
        a = max(gl, x - 8.0 * EPS * (abs(x) + tnorm))
    # cluster test: two extra Sturm counts just outside the range, gaps inside it
    tolc = CLUSTER_RTOL * tnorm
    if lo > 0 and sturm_count(d, e2, n, lam[0] - tolc) != lo:
        status |= CLUSTERED
    if hi < n and sturm_count(d, e2, n, lam[m - 1] + tolc) != hi:
        status |= CLUSTERED
    for j in range(1, m):
        if lam[j] - lam[j - 1] < tolc:
            status |= CLUSTERED
    if not vectors or status & FAILED:
        return status
    tolo = ORTHO_RTOL * tnorm
    g0 = 0
    rmax = RESID_C * n * EPS * tnorm
    for j in range(m):
        if j > 0 and lam[j] - lam[j - 1] > tolo:
            g0 = j
        if not inverse_iteration(d, e, n, lam[j], tnorm, ws, Z, j, g0):
            status |= FAILED
            continue
        if tri_residual(d, e, n, lam[j], Z[j]) > rmax:
            status |= FAILED
    return status


@njit(**_JIT)
def tri_residual(d, e, n, lam, z):
    s = 0.0
    for i in range(n):
        r = (d[i] - lam) * z[i]
        if i > 0:
            r += e[i - 1] * z[i - 1]
        if i < n - 1:
            r += e[i] * z[i + 1]
        s += r * r
    return math.sqrt(s)


@njit(**_JIT)
def sign_fix(z, n):
    """Make the largest-magnitude component positive (the first one on exact ties)."""
    imax = 0
    vmax = -1.0
    for i in range(n):
        if abs(z[i]) > vmax:
            vmax = abs(z[i])
            imax = i
    if z[imax] < 0.0:
        for i in range(n):
            z[i] = -z[i]


@njit(**_JIT)
def zero_matrix(n, lo, hi, vectors, lam, Z):
    """Eigenpairs of the zero matrix: 0 and the unit vectors e_lo..e_hi-1."""
    for j in range(hi - lo):
        lam[j] = 0.0
        if vectors:
            for i in range(n):
                Z[j, i] = 0.0
            Z[j, lo + j] = 1.0
    return CLUSTERED if n > 1 else OK


@njit(**_JIT)
def chunk_bounds(c, nchunks, B):
    return (c * B) // nchunks, ((c + 1) * B) // nchunks


@njit(**_JIT)
def scratch(n, m, vectors):
    nz = n if vectors else 1
    d = np.empty(max(n, 1))
    e = np.zeros(max(n, 1))
    e2 = np.zeros(max(n, 1))
    lam = np.empty(max(m, 1))
    Z = np.zeros((max(m, 1), max(nz, 1)))
    ws = np.zeros((6, max(nz, 1)))
    return d, e, e2, lam, Z, ws
