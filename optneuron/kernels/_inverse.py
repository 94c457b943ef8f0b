"""Inverse iteration on a scaled symmetric tridiagonal matrix (pivoted LU, as LAPACK dlagtf/dlagts).

Workspace ``ws`` is a (6, n) float64 array: rows 0-2 hold U's three diagonals, row 3 the
multipliers of L, row 4 the row-swap flags, row 5 the iterate.
"""

import math

from numba import njit

from ._sturm import EPS

#: full solves allowed per vector after the first U-only solve
MAXINV = 5
_BIG = 1e100

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def lu_factor(d, e, n, lam, ptol, ws):
    """Factor T - lam*I = P L U with partial pivoting; pivots below ptol are raised to ptol."""
    u0 = ws[0]
    u1 = ws[1]
    u2 = ws[2]
    lm = ws[3]
    pv = ws[4]
    a = d[0] - lam
    b = e[0] if n > 1 else 0.0
    for k in range(n - 1):
        c = e[k]
        dn = d[k + 1] - lam
        en = e[k + 1] if k + 2 < n else 0.0
        if abs(a) >= abs(c):
            u0[k] = a
            u1[k] = b
            u2[k] = 0.0
            m = c / a if a != 0.0 else 0.0
            lm[k] = m
            pv[k] = 0.0
            a = dn - m * b
            b = en
        else:
            u0[k] = c
            u1[k] = dn
            u2[k] = en
            m = a / c
            lm[k] = m
            pv[k] = 1.0
            a = b - m * dn
            b = -m * en
        if abs(u0[k]) < ptol:
            u0[k] = math.copysign(ptol, u0[k])
    u0[n - 1] = a
    if abs(a) < ptol:
        u0[n - 1] = math.copysign(ptol, a)
    u1[n - 1] = 0.0
    u2[n - 1] = 0.0


@njit(**_JIT)
def l_solve(n, ws, y):
    lm = ws[3]
    pv = ws[4]
    for k in range(n - 1):
        if pv[k] != 0.0:
            t = y[k]
            y[k] = y[k + 1]
            y[k + 1] = t
        y[k + 1] -= lm[k] * y[k]


@njit(**_JIT)
def u_solve(n, ws, y):
    """Back substitution with U; rescales on the fly so that nothing overflows."""
    u0 = ws[0]
    u1 = ws[1]
    u2 = ws[2]
    for k in range(n - 1, -1, -1):
        t = y[k]
        if k + 1 < n:
            t -= u1[k] * y[k + 1]
        if k + 2 < n:
            t -= u2[k] * y[k + 2]
        t = t / u0[k]
        y[k] = t
        if abs(t) > _BIG:
            for j in range(n):
                y[j] *= 1.0 / _BIG


@njit(**_JIT)
def _norm2(y, n):
    s = 0.0
    for i in range(n):
        s += y[i] * y[i]
    return math.sqrt(s)


@njit(**_JIT)
def _reorth(y, n, Z, g0, g1):
    """Modified Gram-Schmidt of y against rows g0..g1-1 of Z (unit vectors)."""
    for j in range(g0, g1):
        z = Z[j]
        s = 0.0
        for i in range(n):
            s += z[i] * y[i]
        for i in range(n):
            y[i] -= s * z[i]


@njit(**_JIT)
def inverse_iteration(d, e, n, lam, tnorm, ws, Z, col, g0):
    """Unit eigenvector of T for the (accurate) eigenvalue lam into Z[col, :n].

    Start from a fixed pseudo-random vector (a structured one can be orthogonal to the answer),
    one solve with U (Wilkinson's trick), then full solves until the growth ||y|| / ||b|| shows a
    residual at rounding level. Rows Z[g0:col] are the vectors of nearby eigenvalues already
    computed: y is kept orthogonal to them. Returns False if something went non-finite.
    """
    ptol = EPS * tnorm
    lu_factor(d, e, n, lam, ptol, ws)
    y = ws[5]
    for i in range(n):
        # golden-ratio sequence, distinct per column, in [-1, 1]
        f = (i + 1) * 0.6180339887498949 + col * 0.4142135623730951
        y[i] = 2.0 * (f - math.floor(f)) - 1.0 + 0.5
    u_solve(n, ws, y)
    _reorth(y, n, Z, g0, col)
    target = 1.0 / (max(n, 4) * EPS * tnorm)
    for _ in range(MAXINV):
        nrm = _norm2(y, n)
        if not (nrm > 0.0 and nrm < math.inf):
            return False
        for i in range(n):
            y[i] /= nrm
        l_solve(n, ws, y)
        u_solve(n, ws, y)
        _reorth(y, n, Z, g0, col)
        grow = _norm2(y, n)
        if grow >= target:
            break
    nrm = _norm2(y, n)
    if not (nrm > 0.0 and nrm < math.inf):
        return False
    z = Z[col]
    for i in range(n):
        z[i] = y[i] / nrm
    return True
