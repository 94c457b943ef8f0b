"""Sturm counts and the k-th eigenvalue of a symmetric tridiagonal matrix.

All routines here work on a *scaled* matrix (entries of magnitude ~1, see ``_scale``):
``d`` is the diagonal, ``e2`` the squared off-diagonal, ``tnorm`` a Gershgorin bound on ``||T||``.
"""

import math

from numba import njit

EPS = 2.220446049250313e-16
#: a Sturm pivot smaller than this (in units of ||T|| ~ 1) is replaced by -PIVMIN; shifting one
#: diagonal entry by 1e-120 is invisible at float64 precision, and it keeps 1/q finite.
PIVMIN = 1e-120
#: total Sturm passes allowed for one eigenvalue (bisection alone needs ~60 from Gershgorin)
MAXIT = 160

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def sturm_count(d, e2, n, x):
    """Number of eigenvalues of T strictly below x (LDL^T inertia, LAPACK's pivot guard)."""
    c = 0
    q = d[0] - x
    if abs(q) < PIVMIN:
        q = -PIVMIN
    if q < 0.0:
        c += 1
    for i in range(1, n):
        q = (d[i] - x) - e2[i - 1] / q
        if abs(q) < PIVMIN:
            q = -PIVMIN
        if q < 0.0:
            c += 1
    return c


@njit(**_JIT)
def sturm_laguerre(d, e2, n, x):
    """Sturm count at x plus Laguerre's sums G = sum 1/(x-lam_j), H = sum 1/(x-lam_j)^2.

    With q_i the LDL^T pivots of T - xI, det(T - xI) = prod q_i, so G = sum q_i'/q_i and
    H = sum (q_i'/q_i)^2 - q_i''/q_i; q' and q'' follow from the same recurrence.
    """
    c = 0
    q = d[0] - x
    if abs(q) < PIVMIN:
        q = -PIVMIN
    if q < 0.0:
        c += 1
    inv = 1.0 / q
    r = -inv
    s = 0.0
    g = r
    h = r * r
    for i in range(1, n):
        t = e2[i - 1] * inv
        q = (d[i] - x) - t
        if abs(q) < PIVMIN:
            q = -PIVMIN
        if q < 0.0:
            c += 1
        dq = t * r - 1.0
        ddq = t * (s - 2.0 * r * r)
        inv = 1.0 / q
        r = dq * inv
        s = ddq * inv
        g += r
        h += r * r - s
    return c, g, h


@njit(**_JIT)
def gershgorin(d, e, n):
    """Gershgorin interval [gl, gu] of T and tnorm = max(|gl|, |gu|) >= ||T||_2."""
    gl = math.inf
    gu = -math.inf
    for i in range(n):
        r = 0.0
        if i > 0:
            r += abs(e[i - 1])
        if i < n - 1:
            r += abs(e[i])
        if d[i] - r < gl:
            gl = d[i] - r
        if d[i] + r > gu:
            gu = d[i] + r
    tnorm = max(abs(gl), abs(gu))
    # LAPACK dstebz's fudge so that count(gl) = 0 and count(gu) = n despite rounding
    fudge = 2.1 * EPS * n * tnorm + 4.2 * PIVMIN
    return gl - fudge, gu + fudge, tnorm


@njit(**_JIT)
def _laguerre_step(g, base, nf, m, right):
    """Laguerre's step for a root of multiplicity m, towards +x if right; 0.0 if unusable."""
    sq = math.sqrt((nf - m) / m * base)
    den = g - sq if right else g + sq
    if den == 0.0:
        return 0.0
    dx = -nf / den
    if not math.isfinite(dx) or (dx > 0.0) != right:
        return 0.0
    return dx


@njit(**_JIT)
def kth_eigenvalue(d, e2, n, k, a, b, tnorm):
    """lam_k (0-based, ascending) of the scaled tridiagonal T, given a <= lam_k < b.

    Bisection on Sturm counts until count(x) is k or k+1, i.e. x lies between lam_{k-1} and
    lam_{k+1}; from there Laguerre's step towards lam_k (right if count = k, left if k+1) never
    passes another eigenvalue for a real-rooted polynomial and converges cubically. Each pass also
    tightens [a, b]; steps leaving it fall back to bisection. When the steps shrink only linearly
    (a near-multiple root), Laguerre's multiplicity-m form with m ~ G^2/H is used.
    Returns (lam_k, converged).
    """
    x = 0.5 * (a + b)
    dx_prev = 0.0
    nf = float(n)
    for _ in range(MAXIT):
        c, g, h = sturm_laguerre(d, e2, n, x)
        if c <= k:
            a = x
        else:
            b = x
        if b - a <= EPS * (2.0 * (abs(a) + abs(b)) + tnorm):
            return 0.5 * (a + b), True
        xn = 0.5 * (a + b)
        dx = 0.0
        if (c == k or c == k + 1) and math.isfinite(g) and math.isfinite(h):
            right = c == k
            base = nf * h - g * g
            if base < 0.0:
                base = 0.0
            dx = _laguerre_step(g, base, nf, 1.0, right)
            if dx != 0.0 and dx_prev != 0.0 and (dx_prev > 0.0) == right:
                if abs(dx) > 0.25 * abs(dx_prev) and h > 0.0:
                    # linear convergence: a near-multiple root of multiplicity ~ G^2/H
                    mg = min(float(round(g * g / h)), nf - 1.0)
                    if mg >= 2.0:
                        dxm = _laguerre_step(g, base, nf, mg, right)
                        if dxm != 0.0:
                            dx = dxm
            if dx != 0.0:
                if abs(dx) <= EPS * (2.0 * abs(x) + tnorm):
                    return min(max(x + dx, a), b), True
                xt = x + dx
                if a < xt < b:
                    xn = xt
                else:
                    dx = 0.0
        dx_prev = dx
        x = xn
    return 0.5 * (a + b), False
