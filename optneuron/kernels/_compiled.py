"""All numba code of optneuron.kernels, in one module on purpose.

numba's on-disk cache is keyed on the source file of each cached function only: a cached
caller in one file would keep a stale copy of a helper edited in another file. With every
jitted function in this file, any edit invalidates the whole cache.

Layout: Sturm counts and Laguerre's iteration; inverse iteration (pivoted tridiagonal LU);
the per-matrix driver on a scaled tridiagonal; the tridiagonal batch kernel; Householder
reduction, back-transformation and the dense batch kernel.
"""

import math

import numpy as np
from numba import njit, prange

_JIT = dict(cache=True, nogil=True, error_model="numpy")

# --- Sturm counts and the k-th eigenvalue (on a scaled matrix: entries <= 1, ||T|| ~ 1) ---

EPS = 2.220446049250313e-16
#: a Sturm pivot smaller than this (in units of ||T|| ~ 1) is replaced by -PIVMIN; shifting one
#: diagonal entry by 1e-120 is invisible at float64 precision, and it keeps 1/q finite.
PIVMIN = 1e-120
#: total Sturm passes allowed for one eigenvalue (bisection alone needs ~60 from Gershgorin)
MAXIT = 160


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
def _interpolate(a, b, ca, cb, k):
    """Where the count, taken as linear between (a, ca) and (b, cb), reaches k + 1/2."""
    f = (k + 0.5 - ca) / (cb - ca)
    f = min(max(f, 0.0625), 0.9375)
    return a + f * (b - a)


@njit(**_JIT)
def kth_eigenvalue(d, e2, n, k, a, b, tnorm, ca=-1, cb=-1):
    """lam_k (0-based, ascending) of the scaled tridiagonal T, given a <= lam_k < b.

    Bisection on Sturm counts until count(x) is k or k+1, i.e. x lies between lam_{k-1} and
    lam_{k+1}; from there Laguerre's step towards lam_k (right if count = k, left if k+1) never
    passes another eigenvalue for a real-rooted polynomial and converges cubically. Each pass also
    tightens [a, b]; steps leaving it fall back to bisection. When the steps shrink only linearly
    (a near-multiple root), Laguerre's multiplicity-m form with m ~ G^2/H is used.
    Returns (lam_k, converged).
    """
    if ca < 0:
        ca = 0
    if cb < 0:
        cb = n
    dx_prev = 0.0
    nf = float(n)
    interp = True
    x = _interpolate(a, b, ca, cb, k)
    for _ in range(MAXIT):
        c, g, h = sturm_laguerre(d, e2, n, x)
        if c <= k:
            a = x
            ca = c
        else:
            b = x
            cb = c
        if b - a <= EPS * (2.0 * (abs(a) + abs(b)) + tnorm):
            return 0.5 * (a + b), True
        # regula falsi on the counts, which track the spectral distribution, alternating with
        # plain bisection so that the bracket at least halves every second fallback
        interp = not interp
        xn = _interpolate(a, b, ca, cb, k) if interp else 0.5 * (a + b)
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


# --- inverse iteration: ws is (6, n): U's three diagonals, L's multipliers, swap flags, iterate ---

#: full solves allowed per vector after the first U-only solve
MAXINV = 5
_BIG = 1e100


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


# --- per-matrix driver shared by both kernels ---

#: eigenvalues closer than this (relative to ||T||) count as a cluster -> suspect
CLUSTER_RTOL = 1e-8
#: eigenvalues closer than this (relative to ||T||) have their vectors orthogonalized together
ORTHO_RTOL = 1e-3
#: runtime safety net: residual ||Tq - lam q|| above RESID_C * n * eps * ||T|| -> suspect
RESID_C = 16.0

OK = 0
CLUSTERED = 1
FAILED = 2


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
def non_finite(n, m, vectors, lam, Z):
    """NaN eigenpairs for a matrix with a non-finite entry; the row is flagged FAILED."""
    for j in range(m):
        lam[j] = math.nan
        if vectors:
            for i in range(n):
                Z[j, i] = math.nan
    return FAILED


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


# --- tridiagonal batch kernel ---


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _tri_batch(diag, off, lo, hi, vectors, nchunks, vals, vecs, suspect):
    B, n = diag.shape
    m = hi - lo
    for c in prange(nchunks):
        b0, b1 = chunk_bounds(c, nchunks, B)
        d, e, e2, lam, Z, ws = scratch(n, m, vectors)
        for b in range(b0, b1):
            amax = 0.0
            chk = 0.0
            for i in range(n):
                x = np.float64(diag[b, i])
                amax = max(amax, abs(x))
                chk += x * 0.0
            for i in range(n - 1):
                x = np.float64(off[b, i])
                amax = max(amax, abs(x))
                chk += x * 0.0
            if chk != 0.0:
                # inf * 0 and NaN * 0 are NaN: some entry is not finite
                status = non_finite(n, m, vectors, lam, Z)
            elif amax == 0.0:
                status = zero_matrix(n, lo, hi, vectors, lam, Z)
            else:
                p = scale_exponent(amax)
                s = math.ldexp(1.0, -p)
                for i in range(n):
                    d[i] = np.float64(diag[b, i]) * s
                for i in range(n - 1):
                    e[i] = np.float64(off[b, i]) * s
                status = solve_scaled(d, e, e2, n, lo, hi, vectors, lam, Z, ws)
                for j in range(m):
                    lam[j] = math.ldexp(lam[j], p)
            suspect[b] = status != 0
            for j in range(m):
                vals[b, j] = lam[j]
            if vectors:
                for j in range(m):
                    z = Z[j]
                    sign_fix(z, n)
                    for i in range(n):
                        vecs[b, i, j] = z[i]


# --- dense: Householder reduction, back-transformation, batch kernel ---

_FAST = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)


@njit(**_FAST)
def _reflector(row, mm):
    """Householder reflector for x = row[:mm]: on return row[:mm] = v (v[0] = 1) and
    (I - tau v v^T) x = beta e_1; returns (tau, beta)."""
    alpha = row[0]
    xn2 = 0.0
    for t in range(1, mm):
        xn2 += row[t] * row[t]
    if xn2 == 0.0:
        return 0.0, alpha
    beta = -math.copysign(math.sqrt(alpha * alpha + xn2), alpha)
    sc = 1.0 / (alpha - beta)
    row[0] = 1.0
    for t in range(1, mm):
        row[t] *= sc
    return (beta - alpha) / beta, beta


@njit(**_FAST)
def householder_tridiagonal(W, n, d, e, tau, p, vn):
    """Reduce symmetric W (n, n) to T = Q^T W Q in place; Q = H_0 ... H_{n-3}.

    H_j = I - tau[j] v v^T acts on rows/columns j+1..n-1, with v = (1, W[j, j+2:]) stored in row j
    (which the later steps no longer touch). The rank-2 update of step j is fused with the
    matrix-vector product of step j+1 (one sweep over the trailing block per step).
    p and vn are scratch vectors of length n and 2n.
    """
    if n <= 2:
        for j in range(n):
            d[j] = W[j, j]
        if n == 2:
            e[0] = W[0, 1]
        return
    # step 0's product p = W22 v (unscaled)
    tj, beta = _reflector(W[0, 1:], n - 1)
    tau[0] = tj
    e[0] = beta
    d[0] = W[0, 0]
    v = W[0, 1:]
    for i in range(n - 1):
        wr = W[1 + i, 1:]
        s = 0.0
        for t in range(n - 1):
            s += wr[t] * v[t]
        p[i] = s
    for j in range(n - 2):
        mm = n - j - 1
        v = W[j, j + 1 :]
        tj = tau[j]
        # w = tau p - (tau^2/2)(p.v) v
        pv = 0.0
        for i in range(mm):
            p[i] *= tj
            pv += p[i] * v[i]
        k = -0.5 * tj * pv
        for i in range(mm):
            p[i] += k * v[i]
        # row j+1 first: it defines the next reflector
        r = W[j + 1, j + 1 :]
        v0 = v[0]
        w0 = p[0]
        for t in range(mm):
            r[t] -= v0 * p[t] + w0 * v[t]
        d[j + 1] = r[0]
        last = j + 1 == n - 2
        if last:
            e[j + 1] = r[1]
        tn = 0.0
        if not last:
            tn, beta = _reflector(r[1:], mm - 1)
            tau[j + 1] = tn
            e[j + 1] = beta
            vn[0] = 0.0
            for t in range(1, mm):
                vn[t] = r[t]
        if last or tn == 0.0:
            for i in range(1, mm):
                wr = W[j + 1 + i, j + 1 :]
                vi = v[i]
                wi = p[i]
                for t in range(mm):
                    wr[t] -= vi * p[t] + wi * v[t]
            if not last:
                for i in range(mm - 1):
                    p[i] = 0.0
        else:
            for i in range(1, mm):
                wr = W[j + 1 + i, j + 1 :]
                vi = v[i]
                wi = p[i]
                s = 0.0
                for t in range(mm):
                    x = wr[t] - (vi * p[t] + wi * v[t])
                    wr[t] = x
                    s += x * vn[t]
                vn[n - 1 + i] = s
            for i in range(mm - 1):
                p[i] = vn[n + i]
    d[n - 1] = W[n - 1, n - 1]


@njit(**_FAST)
def back_transform(W, n, tau, z):
    """z <- Q z with the reflectors stored by householder_tridiagonal."""
    for j in range(n - 3, -1, -1):
        tj = tau[j]
        if tj == 0.0:
            continue
        mm = n - j - 1
        v = W[j, j + 1 :]
        zs = z[j + 1 :]
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
        vn = np.empty(2 * max(n, 1))
        for b in range(b0, b1):
            Ab = A[b]
            amax = 0.0
            chk = 0.0
            for i in range(n):
                ar = Ab[i]
                for t in range(n):
                    x = np.float64(ar[t])
                    amax = max(amax, abs(x))
                    chk += x * 0.0
            if chk != 0.0:
                # inf * 0 and NaN * 0 are NaN: some entry is not finite
                status = non_finite(n, m, vectors, lam, Z)
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
                householder_tridiagonal(W, n, d, e, tau, p, vn)
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
