"""All numba code of optneuron.kernels, in one module on purpose.

numba's on-disk cache is keyed on the source file of each cached function only: a cached
caller in one file would keep a stale copy of a helper edited in another file. With every
jitted function in this file, any edit invalidates the whole cache.

Layout: Gershgorin bounds and Laguerre's iteration (one pass of its state machine); inverse
iteration (pivoted tridiagonal LU); per-matrix steps; the lane engines that run many
eigenvalue and eigenvector iterations at once; the tridiagonal batch kernel; Householder
reduction (one matrix at a time, and 64 at once across lanes), back-transformation and the
dense batch kernel; the trust-region secular solve
(front end: trust_region.py); the adjoint solve of an eigenvector's derivative (front end:
eigenvector_adjoint.py). The full-spectrum kernels (_spectrum.py) call nothing here.
"""

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")
#: small steps that the batch loops call once per matrix, task or lane and pass arrays to:
#: inlined by numba (its IR, before LLVM), because a call that passes arrays costs tens of ns,
#: as much as the step's own work. Same arithmetic, same bits. With the 18 steps marked with
#: it, the batch-64, n = 45 tridiagonal call with derivatives took 0.83x as long as before
#: (python -m benchmarks.kernel_ab 028e48c, the commit before the inlining).
_INLINE = dict(inline="always", **_JIT)

# --- bounds and the k-th eigenvalue's iteration (on a scaled matrix: entries <= 1, ||T|| ~ 1) ---

EPS = 2.220446049250313e-16
#: a Sturm pivot smaller than this (in units of ||T|| ~ 1) is replaced by -PIVMIN; shifting one
#: diagonal entry by 1e-120 is invisible at float64 precision, and it keeps 1/q finite.
PIVMIN = 1e-120
#: total Sturm passes allowed for one eigenvalue (bisection alone needs ~60 from Gershgorin)
MAXIT = 160


#: rows of a block's bounds array (admit_row, spectral_bounds): Gershgorin's interval, a bound
#: on ||T||, and the mean and standard deviation of the spectrum
_GL, _GU, _TN, _MEAN, _SD = range(5)
BOUND_ROWS = 5


@njit(**_INLINE)
def spectral_bounds(d, e, n):
    """(gl, gu, tnorm, mean, sd): Gershgorin's interval [gl, gu] of T, tnorm = max(|gl|, |gu|)
    >= ||T||_2, and the mean tr(T) / n and standard deviation sqrt(||T||_F^2 / n - mean^2) of
    its eigenvalues (where laguerre_start begins; one loop for all five)."""
    gl = math.inf
    gu = -math.inf
    tr = 0.0
    fro = 0.0
    for i in range(n):
        r = 0.0
        if i > 0:
            r += abs(e[i - 1])
        if i < n - 1:
            r += abs(e[i])
            fro += 2.0 * e[i] * e[i]
        if d[i] - r < gl:
            gl = d[i] - r
        if d[i] + r > gu:
            gu = d[i] + r
        tr += d[i]
        fro += d[i] * d[i]
    tnorm = max(abs(gl), abs(gu))
    # LAPACK dstebz's fudge so that count(gl) = 0 and count(gu) = n despite rounding
    fudge = 2.1 * EPS * n * tnorm + 4.2 * PIVMIN
    mean = tr / n
    return gl - fudge, gu + fudge, tnorm, mean, math.sqrt(max(fro / n - mean * mean, 0.0))


@njit(**_INLINE)
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


@njit(**_INLINE)
def _interpolate(a, b, ca, cb, k):
    """Where the count, taken as linear between (a, ca) and (b, cb), reaches k + 1/2."""
    f = (k + 0.5 - ca) / (cb - ca)
    f = min(max(f, 0.0625), 0.9375)
    return a + f * (b - a)


#: columns of a Laguerre iteration's state vector (see laguerre_update)
_A, _B, _CA, _CB, _DXP, _INTERP, _X = 0, 1, 2, 3, 4, 5, 6
STATE_SIZE = 7


#: a logistic distribution's scale per unit of standard deviation (sqrt(3) / pi)
_LOGISTIC_SCALE = 0.5513288954217921


@njit(**_INLINE)
def laguerre_start(st, a, b, n, k, mean, sd):
    """Start the iteration for lam_k (0-based, ascending) of a scaled tridiagonal of size n,
    given a <= lam_k < b with count(a) taken as 0 and count(b) as n, at the (k + 1/2) / n
    quantile of a logistic distribution with the spectrum's mean and standard deviation
    (spectral_bounds), kept inside [a, b] as _interpolate keeps its points.

    Why there: interpolating the count linearly between a and b assumes eigenvalues spread
    evenly over Gershgorin's interval, which overstates the spectrum's width. From the
    moments, a middle eigenvalue at n = 45 takes 7.1-7.4 Sturm passes instead of 8.5-8.7,
    one at k / n = 0.1 or 0.9 7.2-8.0 instead of 10.5-11.2, an extreme one as many
    (python -m benchmarks.laguerre_start). Where the start lies changes the passes, never the
    result's accuracy: the iteration's stopping test is the same."""
    st[_A] = a
    st[_B] = b
    st[_CA] = 0.0
    st[_CB] = float(n)
    st[_DXP] = 0.0
    st[_INTERP] = 1.0
    p = (k + 0.5) / n
    x = mean + _LOGISTIC_SCALE * sd * math.log(p / (1.0 - p))
    w = 0.0625 * (b - a)
    st[_X] = min(max(x, a + w), b - w)


@njit(**_INLINE)
def laguerre_update(st, c, g, h, k, nf, tnorm):
    """One pass of the iteration for lam_k, given the Sturm count c and Laguerre's sums g, h
    at x = st[_X]. Returns True when lam_k = st[_X] is found; else st[_X] is the next point.

    Bisection on Sturm counts until count(x) is k or k+1, i.e. x lies between lam_{k-1} and
    lam_{k+1}; from there Laguerre's step towards lam_k (right if count = k, left if k+1) never
    passes another eigenvalue for a real-rooted polynomial and converges cubically. Each pass also
    tightens [a, b]; steps leaving it fall back to bisection. When the steps shrink only linearly
    (a near-multiple root), Laguerre's multiplicity-m form with m ~ G^2/H is used.
    """
    a = st[_A]
    b = st[_B]
    ca = st[_CA]
    cb = st[_CB]
    x = st[_X]
    if c <= k:
        a = x
        ca = float(c)
    else:
        b = x
        cb = float(c)
    st[_A] = a
    st[_B] = b
    st[_CA] = ca
    st[_CB] = cb
    if b - a <= EPS * (2.0 * (abs(a) + abs(b)) + tnorm):
        st[_X] = 0.5 * (a + b)
        return True
    # regula falsi on the counts, which track the spectral distribution, alternating with
    # plain bisection so that the bracket at least halves every second fallback
    interp = st[_INTERP] == 0.0
    st[_INTERP] = 1.0 if interp else 0.0
    xn = _interpolate(a, b, ca, cb, k) if interp else 0.5 * (a + b)
    dx = 0.0
    dx_prev = st[_DXP]
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
                st[_X] = min(max(x + dx, a), b)
                return True
            xt = x + dx
            if a < xt < b:
                xn = xt
            else:
                dx = 0.0
    st[_DXP] = dx
    st[_X] = xn
    return False


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
def start_vector(y, n, col):
    """Inverse iteration's fixed start: a golden-ratio sequence, distinct per column."""
    for i in range(n):
        f = (i + 1) * 0.6180339887498949 + col * 0.4142135623730951
        y[i] = 2.0 * (f - math.floor(f)) - 1.0 + 0.5


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
    start_vector(y, n, col)
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


# --- per-matrix steps shared by both kernels ---

#: eigenvalues closer than this (relative to ||T||) count as a cluster -> suspect
CLUSTER_RTOL = 1e-8
#: eigenvalues closer than this (relative to ||T||) have their vectors orthogonalized together
ORTHO_RTOL = 1e-3
#: runtime safety net: residual ||Tq - lam q|| above RESID_C * n * eps * ||T|| -> suspect
RESID_C = 16.0

OK = 0
CLUSTERED = 1
FAILED = 2


@njit(**_INLINE)
def scale_exponent(amax):
    """Exponent p such that amax * 2**-p lies in [0.5, 1); clamped so 2**-p stays finite."""
    _, p = math.frexp(amax)
    if p < -1020:
        p = -1020
    return p


@njit(**_JIT)
def dense_scan(Ab, n):
    """(max |a_ij|, sum 0 * a_ij) of one dense matrix in float64: its scale, and a sum that is
    NaN exactly when an entry is nan or inf (special_matrix's test)."""
    amax = 0.0
    chk = 0.0
    for q in range(n):
        ar = Ab[q]
        for t in range(n):
            x = np.float64(ar[t])
            amax = max(amax, abs(x))
            chk += x * 0.0
    return amax, chk


@njit(**_JIT)
def tri_residual(d, e, n, lam, z):
    """||(T - lam I) z||_2. Written out here and in _projected_residual_ok, not shared through a
    row helper: with one, the tridiagonal kernel with derivatives measured about half as fast
    (the tridiagonal rows of ``python -m benchmarks`` time that kernel)."""
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
def tri_vectors(d, e, n, lam, m, tnorm, Z, ws, Zpre, pre):
    """Unit eigenvectors of the scaled tridiagonal (d, e) for its eigenvalues lam[:m] (ascending
    indices) into the rows Z[:m, :n]; vectors of eigenvalues closer than ORTHO_RTOL ||T|| are
    kept orthogonal to each other. Vectors with pre[j] set are taken from Zpre[j] (computed by
    block_vectors, which checked their residuals against a tighter bound). Returns OK or
    FAILED (non-finite iterate or residual above RESID_C n eps ||T||)."""
    status = OK
    tolo = ORTHO_RTOL * tnorm
    g0 = 0
    rmax = RESID_C * n * EPS * tnorm
    for j in range(m):
        if j > 0 and lam[j] - lam[j - 1] > tolo:
            g0 = j
        if pre[j]:
            # block_vectors kept it for a residual below max(n, 4) eps ||T|| <= rmax
            for i in range(n):
                Z[j, i] = Zpre[j, i]
            continue
        if not inverse_iteration(d, e, n, lam[j], tnorm, ws, Z, j, g0):
            status |= FAILED
            continue
        if tri_residual(d, e, n, lam[j], Z[j]) > rmax:
            status |= FAILED
    return status


@njit(**_INLINE)
def gaps_clustered(lam, m, tnorm):
    """CLUSTERED if two eigenvalues of the range lie within CLUSTER_RTOL ||T|| (or out of order)."""
    tolc = CLUSTER_RTOL * tnorm
    for j in range(1, m):
        if lam[j] - lam[j - 1] < tolc:
            return CLUSTERED
    return OK


@njit(**_INLINE)
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


@njit(**_INLINE)
def write_row(b, n, m, vectors, status, lam, Z, vals, vecs, suspect):
    """Store matrix b's results in the caller's dtype (vectors sign-fixed, as columns)."""
    suspect[b] = status != 0
    for j in range(m):
        vals[b, j] = lam[j]
    if vectors:
        for j in range(m):
            z = Z[j]
            sign_fix(z, n)
            for i in range(n):
                vecs[b, i, j] = z[i]


@njit(**_INLINE)
def write_derivatives(b, n, m, Z, dd, de):
    """dd[b, i, j] = q_ij**2 = d lam_j / d d_i and de[b, i, j] = 2 q_ij q_{i+1,j} = d lam_j / d e_i
    for the unit vectors in the rows of Z (computed in float64, stored in the caller's dtype)."""
    for j in range(m):
        z = Z[j]
        for i in range(n):
            dd[b, i, j] = z[i] * z[i]
        for i in range(n - 1):
            de[b, i, j] = 2.0 * z[i] * z[i + 1]


@njit(**_JIT)
def chunk_bounds(c, nchunks, B):
    return (c * B) // nchunks, ((c + 1) * B) // nchunks


# --- eigenvalues of a block of matrices, many iterations in flight at once ---

#: iterations advanced together. The Sturm recurrence is a chain of dependent divisions; across
#: lanes the loop vectorizes, several chains stay in flight per step, and each loop's entry
#: (aliasing checks, as in householder_lanes) is paid once for more lanes. Against 32 lanes
#: (python -m benchmarks.kernel_ab 7dc76e3, 2026-12-04, bit-equal): 64 took 0.96-1.0x as long at
#: batch 64, 0.87x at batch 1024; 128 took 1.10x at batch 64 (half the lanes idle), 16 1.14x.
LANES = 64
#: matrices per block: the unit whose scaled tridiagonals (and dense reflectors) are kept at once
BLOCK = 128


@njit(**_JIT)
def vector_lanes(tasks):
    """Lanes a pass runs for this many tasks: a multiple of 8 (a whole vector: no scalar
    remainder) up to LANES; the lanes past the tasks idle on finite stale data."""
    return min(LANES, (max(1, min(LANES, tasks)) + 7) // 8 * 8)

_SOLVE = 0
_LEFT = 1
_RIGHT = 2
_IDLE = 3


#: rows of the Sturm lanes' state (one flat array, field f of lane l at f * LANES + l): the
#: point x, the count, Laguerre's G and H, and the recurrence's 1/q, q'/q, q''/q
_LX, _LCNT, _LG, _LH, _LINV, _LR, _LS = range(7)
_LROWS = 7


@njit(**_JIT)
def lanes_sturm_laguerre(dT, e2T, n, S, nl):
    """For every lane l < nl at once, at x_l = S[_LX, l] for the tridiagonal in column l of dT
    (diagonal) and e2T (squared off-diagonal): the Sturm count #{lam_j < x} (LDL^T inertia with
    LAPACK's pivot guard) into the _LCNT row, and Laguerre's sums G = sum 1/(x-lam_j),
    H = sum 1/(x-lam_j)^2 into _LG and _LH.

    With q_i the LDL^T pivots of T - xI, det(T - xI) = prod q_i, so G = sum q_i'/q_i and
    H = sum (q_i'/q_i)^2 - q_i''/q_i; q' and q'' follow from the same recurrence. The state
    is one flat array at compile-time row offsets: with one array per field LLVM checks every
    pair of them for overlap before each step (the lanes layout note in _spectrum.py).
    """
    L = LANES
    for l in range(nl):
        q = dT[0, l] - S[_LX * L + l]
        q = q if abs(q) >= PIVMIN else -PIVMIN
        S[_LCNT * L + l] = 1.0 if q < 0.0 else 0.0
        iv = 1.0 / q
        S[_LINV * L + l] = iv
        S[_LR * L + l] = -iv
        S[_LS * L + l] = 0.0
        S[_LG * L + l] = -iv
        S[_LH * L + l] = iv * iv
    for i in range(1, n):
        for l in range(nl):
            t = e2T[i - 1, l] * S[_LINV * L + l]
            q = (dT[i, l] - S[_LX * L + l]) - t
            q = q if abs(q) >= PIVMIN else -PIVMIN
            S[_LCNT * L + l] += 1.0 if q < 0.0 else 0.0
            rl = S[_LR * L + l]
            dq = t * rl - 1.0
            ddq = t * (S[_LS * L + l] - 2.0 * rl * rl)
            iv = 1.0 / q
            rn = dq * iv
            sn = ddq * iv
            S[_LINV * L + l] = iv
            S[_LR * L + l] = rn
            S[_LS * L + l] = sn
            S[_LG * L + l] += rn
            S[_LH * L + l] += rn * rn - sn


@njit(**_INLINE)
def _next_phase(phase, j, m, lo, hi, n):
    """After a task's phase: the Sturm counts just outside the range (cluster test), or done."""
    if phase == _SOLVE and j == 0 and lo > 0:
        return _LEFT
    if phase != _RIGHT and j == m - 1 and hi < n:
        return _RIGHT
    return _IDLE


@njit(**_INLINE)
def _count_implied(phase, y, a, b, xk, xk1):
    """Whether the Sturm count at y that phase _LEFT (_RIGHT) would take is already known to
    be k (k + 1) for the task's lam_k, from the points its iteration evaluated: counts are
    monotone in x, so count(y) = k when some x <= y has count k (the least such is xk) and some
    x >= y has count <= k (the bracket's a); count(y) = k + 1 when the bracket's b (count
    >= k + 1) lies at or below y and some x >= y has count k + 1 (the greatest such is xk1)."""
    if phase == _LEFT:
        return xk <= y <= a
    return b <= y <= xk1


@njit(**_JIT)
def block_eigenvalues(dS, eS, bounds, rows, nrows, n, lo, hi, lam, status):
    """lam[i, :] = eigenvalues lo..hi-1 of the scaled tridiagonal (dS[i], eS[i]) for each
    i in rows[:nrows]; bounds[:, i] is its spectral_bounds (bounds[_TN, i] >= ||T_i||,
    written tn[i] here). ORs into status[i]:
    FAILED when an iteration does not converge, CLUSTERED when lam_lo (lam_{hi-1}) lies within
    CLUSTER_RTOL ||T|| of lam_{lo-1} (lam_hi), found by one Sturm count just outside the range.

    Each (matrix, index) pair is a task run by laguerre_update; LANES tasks advance together,
    one vectorized Sturm/Laguerre pass at a time, and a lane whose task finishes takes the next.
    Once none is left, the busy lanes move down (_compact_lanes) whenever a whole vector of
    lanes idles, so that the last passes, where the tasks still running thin out, run over as
    few lanes as those tasks need.
    """
    m = hi - lo
    ntask = nrows * m
    tn = bounds[_TN]
    # fewer tasks than lanes: idle lanes would cost a full pass each; a multiple of 8 lanes
    # (one vector) keeps the pass free of a scalar remainder
    L = max(1, min(LANES, ntask))
    nl = vector_lanes(ntask)
    dT = np.zeros((max(n, 1), LANES))
    e2T = np.zeros((max(n, 1), LANES))
    S = np.zeros(_LROWS * LANES)
    st = np.zeros((L, STATE_SIZE))
    row = np.zeros(L, dtype=np.int64)  # each lane's matrix and eigenvalue (j of lo + j)
    col = np.zeros(L, dtype=np.int64)
    phase = np.full(L, _IDLE, dtype=np.int64)
    its = np.zeros(L, dtype=np.int64)
    # per lane, the least point evaluated with count k and the greatest with count k + 1
    # (_count_implied): most tasks then need neither cluster-test count
    xk = np.full(L, np.inf)
    xk1 = np.full(L, -np.inf)
    x = S[_LX * LANES:(_LX + 1) * LANES]
    nf = float(n)
    nxt = 0
    active = 0
    for l in range(L):
        if nxt < ntask:
            row[l], col[l] = _load_task(l, nxt, m, lo, n, rows, dS, eS, bounds, dT, e2T, st, x)
            phase[l] = _SOLVE
            its[l] = 0
            nxt += 1
            active += 1
    while active > 0:
        lanes_sturm_laguerre(dT, e2T, n, S, nl)
        for l in range(L):
            ph = phase[l]
            if ph == _IDLE:
                continue
            i = row[l]
            j = col[l]
            cnt = int(S[_LCNT * LANES + l])
            if ph == _SOLVE:
                its[l] += 1
                if cnt == lo + j:
                    xk[l] = min(xk[l], x[l])
                elif cnt == lo + j + 1:
                    xk1[l] = max(xk1[l], x[l])
                done = laguerre_update(st[l], cnt, S[_LG * LANES + l], S[_LH * LANES + l],
                                       lo + j, nf, tn[i])
                if not done and its[l] < MAXIT:
                    x[l] = st[l, _X]
                    continue
                lam[i, j] = st[l, _X] if done else 0.5 * (st[l, _A] + st[l, _B])
                if not done or not math.isfinite(lam[i, j]):
                    status[i] |= FAILED
            elif ph == _LEFT:
                if cnt != lo:
                    status[i] |= CLUSTERED
            elif cnt != hi:
                status[i] |= CLUSTERED
            ph = _next_phase(ph, j, m, lo, hi, n)
            if ph == _LEFT:
                x[l] = lam[i, 0] - CLUSTER_RTOL * tn[i]
                if _count_implied(ph, x[l], st[l, _A], st[l, _B], xk[l], xk1[l]):
                    ph = _next_phase(ph, j, m, lo, hi, n)
            if ph == _RIGHT:
                x[l] = lam[i, m - 1] + CLUSTER_RTOL * tn[i]
                if _count_implied(ph, x[l], st[l, _A], st[l, _B], xk[l], xk1[l]):
                    ph = _next_phase(ph, j, m, lo, hi, n)
            if ph == _IDLE:
                if nxt < ntask:
                    row[l], col[l] = _load_task(l, nxt, m, lo, n, rows, dS, eS, bounds, dT,
                                                e2T, st, x)
                    its[l] = 0
                    xk[l] = np.inf
                    xk1[l] = -np.inf
                    nxt += 1
                    ph = _SOLVE
                else:
                    active -= 1
            phase[l] = ph
        if nxt >= ntask and 0 < active <= nl - 8:
            # no task left to load and a whole vector of lanes idle: move the busy lanes
            # down and run fewer lanes (a task's arithmetic does not depend on its lane)
            nl = (active + 7) // 8 * 8
            L = _compact_lanes(nl, L, phase, row, col, its, xk, xk1, st, x, dT, e2T, n)


@njit(**_JIT)
def _compact_lanes(nl, L, phase, row, col, its, xk, xk1, st, x, dT, e2T, n):
    """Move every busy lane at or above nl into an idle lane below it (block_eigenvalues' tail,
    once no task is left to load); returns the new lane count to update, nl."""
    free = 0
    for src in range(nl, L):
        if phase[src] == _IDLE:
            continue
        while phase[free] != _IDLE:
            free += 1
        phase[free] = phase[src]
        phase[src] = _IDLE
        row[free], col[free], its[free] = row[src], col[src], its[src]
        xk[free], xk1[free], x[free] = xk[src], xk1[src], x[src]
        for f in range(STATE_SIZE):
            st[free, f] = st[src, f]
        for q in range(n):
            dT[q, free] = dT[q, src]
            e2T[q, free] = e2T[q, src]
    return min(L, nl)


@njit(**_INLINE)
def _load_task(l, t, m, lo, n, rows, dS, eS, bounds, dT, e2T, st, x):
    """Put task t (matrix rows[t // m], eigenvalue lo + t % m) into lane l; returns
    (rows[t // m], t % m)."""
    i = rows[t // m]
    for q in range(n):
        dT[q, l] = dS[i, q]
    for q in range(n - 1):
        e2T[q, l] = eS[i, q] * eS[i, q]
    laguerre_start(st[l], bounds[_GL, i], bounds[_GU, i], n, lo + t % m, bounds[_MEAN, i],
                   bounds[_SD, i])
    x[l] = st[l, _X]
    return i, t % m


# --- eigenvectors of a block: twisted factorizations for many isolated eigenvalues at once ---


#: the vector lanes' state rows (flat, as the Sturm lanes'): the shift, the carried value of
#: the upward recurrence, the least |gamma| so far and its row (the twist), the squared norm
#: and the squared residual of each lane's vector
_TLAM, _TCUR, _TGMIN, _TWIST, _TNRM, _TRES = range(6)
_TROWS = 6


@njit(**_JIT)
def lanes_twisted_pivots(dT, eT, n, S, Dp, Rl, Ru, nl):
    """For every lane l < nl, both pivot recurrences of T_l - lam_l I (lam_l in S's _TLAM row,
    the diagonal in column l of dT, e_i in row i of eT): the forward pivots
    D+_i = (d_i - lam) - e_{i-1}^2 / D+_{i-1} (T - lam I = L D+ L^T) into Dp with their
    reciprocals into Rl, the reciprocals of the backward pivots
    D-_i = (d_i - lam) - e_i^2 / D-_{i+1} (T - lam I = U D- U^T) into Ru, and the twist r, the
    row with the least |gamma_r| = |D+_r - e_r^2 / D-_{r+1}| (gamma_r = 1 / [(T - lam I)^-1]_rr),
    into S's _TWIST row. Pivots below PIVMIN are replaced as in the Sturm count. The twist
    is kept by min() and an arithmetic blend, not a select of the stored value, which LLVM
    turns into a masked store (the lanes layout note in _spectrum.py)."""
    L = LANES
    for l in range(nl):
        q = dT[0, l] - S[_TLAM * L + l]
        q = q if abs(q) >= PIVMIN else -PIVMIN
        Dp[0, l] = q
        Rl[0, l] = 1.0 / q
    for i in range(1, n):
        for l in range(nl):
            e = eT[i - 1, l]
            q = (dT[i, l] - S[_TLAM * L + l]) - e * e * Rl[i - 1, l]
            q = q if abs(q) >= PIVMIN else -PIVMIN
            Dp[i, l] = q
            Rl[i, l] = 1.0 / q
    for l in range(nl):
        q = dT[n - 1, l] - S[_TLAM * L + l]
        q = q if abs(q) >= PIVMIN else -PIVMIN
        Ru[n - 1, l] = 1.0 / q
        S[_TGMIN * L + l] = abs(Dp[n - 1, l])  # gamma_{n-1} = D+_{n-1}
        S[_TWIST * L + l] = n - 1.0
    for i in range(n - 2, -1, -1):
        x = float(i)
        for l in range(nl):
            e = eT[i, l]
            t = e * e * Ru[i + 1, l]
            q = (dT[i, l] - S[_TLAM * L + l]) - t
            q = q if abs(q) >= PIVMIN else -PIVMIN
            Ru[i, l] = 1.0 / q
            gam = abs(Dp[i, l] - t)
            g0 = S[_TGMIN * L + l]
            better = 1.0 if gam < g0 else 0.0  # ties keep the higher row
            S[_TGMIN * L + l] = min(gam, g0)
            S[_TWIST * L + l] += better * (x - S[_TWIST * L + l])


@njit(**_JIT)
def lanes_twisted_vector(dT, eT, n, S, Rl, Ru, Y, nl):
    """Each lane's vector from its twisted factorization (lanes_twisted_pivots), into the rows
    0..n-1 of Y: y_r = 1 at the twist r, y_i = -(e_i / D+_i) y_{i+1} above it and
    y_i = -(e_{i-1} / D-_i) y_{i-1} below it, so that (T - lam I) y = gamma_r e_r. Each half
    is a recurrence that is exactly 0 outside it (its start is 0 there), and the two are
    added: no select of a stored value. S's _TNRM row gets ||y||^2 and _TRES
    ||(T - lam I) y||^2, computed from y (Y's row n is zero, as is eT's row n - 1)."""
    L = LANES
    xl = n - 1.0
    for l in range(nl):
        Y[n - 1, l] = 1.0 if S[_TWIST * L + l] == xl else 0.0
    for i in range(n - 2, -1, -1):
        x = float(i)
        for l in range(nl):
            at = 1.0 if x == S[_TWIST * L + l] else 0.0
            Y[i, l] = at - eT[i, l] * Rl[i, l] * Y[i + 1, l]
    for l in range(nl):
        S[_TCUR * L + l] = 1.0 if S[_TWIST * L + l] == 0.0 else 0.0
        S[_TNRM * L + l] = Y[0, l] * Y[0, l]
    for i in range(1, n):
        x = float(i)
        for l in range(nl):
            at = 1.0 if x == S[_TWIST * L + l] else 0.0
            z = at - eT[i - 1, l] * Ru[i, l] * S[_TCUR * L + l]
            S[_TCUR * L + l] = z
            y = Y[i, l] + (z - at)
            Y[i, l] = y
            S[_TNRM * L + l] += y * y
    for l in range(nl):
        S[_TRES * L + l] = 0.0
    for i in range(n):
        for l in range(nl):
            r = (dT[i, l] - S[_TLAM * L + l]) * Y[i, l] + eT[i, l] * Y[i + 1, l]
            if i > 0:
                r += eT[i - 1, l] * Y[i - 1, l]
            S[_TRES * L + l] += r * r


@njit(**_INLINE)
def isolated(lam, j, m, tolo):
    """lam[j] has no neighbour of the range within tolo: its vector needs no reorthogonalization."""
    return (j == 0 or lam[j] - lam[j - 1] > tolo) and (j == m - 1 or lam[j + 1] - lam[j] > tolo)


@njit(**_JIT)
def block_vectors(dS, eS, tn, lam, trow, tcol, ntask, n, Zb, pre):
    """Zb[i, j] = unit eigenvector of the scaled tridiagonal (dS[i], eS[i]) for lam[i, j], for
    the tasks (trow[t], tcol[t]), t < ntask: isolated eigenvalues, whose vectors need no
    reorthogonalization. LANES tasks at once, each by its twisted factorization
    (lanes_twisted_pivots, lanes_twisted_vector): two pivot recurrences and two products, where
    inverse iteration takes a pivoted LU and two solves (the tridiagonal rows of
    ``python -m benchmarks.headline`` time the kernel that calls this). A task is kept
    (pre[i, j] = True, Zb[i, j] written) only when its vector passes the residual test
    ||(T - lam I) z|| <= max(n, 4) eps ||T||, the bound inverse iteration stops at; the rest
    are left to inverse_iteration, and so are the rows' other eigenvalues.
    """
    L = max(1, min(LANES, ntask))
    nl = vector_lanes(ntask)
    nn = max(n, 1)
    dT = np.ones((nn, LANES))  # lanes past the tasks run on finite stale data, never read
    eT = np.zeros((n + 1, LANES))
    Dp = np.empty((nn, LANES))
    Rl = np.empty((nn, LANES))
    Ru = np.empty((nn, LANES))
    Y = np.zeros((n + 1, LANES))
    S = np.zeros(_TROWS * LANES)
    for t0 in range(0, ntask, L):
        cnt = min(L, ntask - t0)
        for l in range(cnt):
            i = trow[t0 + l]
            for q in range(n):
                dT[q, l] = dS[i, q]
            for q in range(n - 1):
                eT[q, l] = eS[i, q]
            S[_TLAM * LANES + l] = lam[i, tcol[t0 + l]]
        lanes_twisted_pivots(dT, eT, n, S, Dp, Rl, Ru, nl)
        lanes_twisted_vector(dT, eT, n, S, Rl, Ru, Y, nl)
        for l in range(cnt):
            i = trow[t0 + l]
            s = S[_TNRM * LANES + l]
            tol = max(n, 4) * EPS * tn[i]
            if not (s > 0.0 and s < math.inf and S[_TRES * LANES + l] <= tol * tol * s):
                continue
            j = tcol[t0 + l]
            z = Zb[i, j]
            inv = 1.0 / math.sqrt(s)
            for q in range(n):
                z[q] = Y[q, l] * inv
            pre[i, j] = True


@njit(**_JIT)
def block_scratch(cap, n, m, vectors):
    """Per-block arrays for up to cap matrices: scaled d, e, Gershgorin bounds, scale
    exponents, rows to solve, statuses, eigenvalues; and the per-matrix Z (m, n), ws (6, n) of
    inverse iteration."""
    nn = max(n, 1)
    nz = n if vectors else 1
    dS = np.zeros((cap, nn))
    eS = np.zeros((cap, nn))
    bounds = np.zeros((BOUND_ROWS, cap))
    pexp = np.zeros(cap, dtype=np.int64)
    rows = np.zeros(cap, dtype=np.int64)
    status = np.zeros(cap, dtype=np.int64)
    lam = np.zeros((cap, max(m, 1)))
    Z = np.zeros((max(m, 1), max(nz, 1)))
    ws = np.zeros((6, max(nz, 1)))
    return dS, eS, bounds, pexp, rows, status, lam, Z, ws


@njit(**_JIT)
def vector_scratch(cap, n, m, vectors):
    """block_vectors' results (cap, m, n) and flags (cap, m), and its task list."""
    nz = n if vectors else 1
    cz = cap if vectors else 1
    Zb = np.zeros((cz, max(m, 1), max(nz, 1)))
    pre = np.zeros((cz, max(m, 1)), dtype=np.bool_)
    trow = np.zeros(cz * max(m, 1), dtype=np.int64)
    tcol = np.zeros(cz * max(m, 1), dtype=np.int64)
    return Zb, pre, trow, tcol


@njit(**_INLINE)
def special_matrix(chk, amax, a00, n, lo, hi, vectors, lam, Z):
    """Eigenpairs found without iterating, with their status, or -1 for an ordinary matrix:
    one with a non-finite entry (chk != 0: inf * 0 and nan * 0 are nan), the zero matrix, or
    n = 1 (a00 is its entry)."""
    if chk != 0.0:
        return non_finite(n, hi - lo, vectors, lam, Z)
    if amax == 0.0:
        return zero_matrix(n, lo, hi, vectors, lam, Z)
    if n == 1:
        lam[0] = a00
        Z[0, 0] = 1.0
        return OK
    return -1


@njit(**_INLINE)
def admit_row(i, nrows, dS, eS, bounds, status, rows, n):
    """Row i of the block holds a scaled tridiagonal in dS[i], eS[i]: bound its spectrum and
    queue it for solve_block. Returns the new number of queued rows."""
    gl, gu, tn, mean, sd = spectral_bounds(dS[i], eS[i], n)
    bounds[_GL, i], bounds[_GU, i], bounds[_TN, i] = gl, gu, tn
    bounds[_MEAN, i], bounds[_SD, i] = mean, sd
    status[i] = OK
    rows[nrows] = i
    return nrows + 1


@njit(**_JIT)
def solve_block(dS, eS, bounds, status, rows, nrows, n, lo, hi, vectors, lam, Zb, pre, trow,
                tcol):
    """Eigenvalues lo..hi-1 of the queued rows, with the in-range gap test in their statuses;
    if vectors, block_vectors on the isolated eigenvalues of every row that did not fail
    (pre[i, j] marks the vectors it found; row_vectors computes the rest)."""
    m = hi - lo
    block_eigenvalues(dS, eS, bounds, rows, nrows, n, lo, hi, lam, status)
    ntask = 0
    for r in range(nrows):
        i = rows[r]
        status[i] |= gaps_clustered(lam[i], m, bounds[_TN, i])
        if not vectors:
            continue
        for j in range(m):
            pre[i, j] = False
        if status[i] & FAILED:
            continue
        tolo = ORTHO_RTOL * bounds[_TN, i]
        for j in range(m):
            if isolated(lam[i], j, m, tolo):
                trow[ntask] = i
                tcol[ntask] = j
                ntask += 1
    if ntask > 0:
        block_vectors(dS, eS, bounds[_TN], lam, trow, tcol, ntask, n, Zb, pre)


@njit(**_INLINE)
def take_found(i, st, m, n, Zb, pre, Z):
    """Copy queued row i's vectors from Zb into Z and return True if block_vectors found all of
    them (pre[i, :], and the row did not fail: status st); else False, and row_vectors must
    compute them. Callers try this first and call row_vectors only when it fails: a call of
    row_vectors costs several times this copy even when it only copies, the setup of the
    inverse iteration it contains (docs/design.md, "Calls inside a kernel")."""
    if st & FAILED:
        return False
    for j in range(m):
        if not pre[i, j]:
            return False
    for j in range(m):
        for q in range(n):
            Z[j, q] = Zb[i, j, q]
    return True


@njit(**_JIT)
def row_vectors(i, dS, eS, bounds, status, lam, n, m, Z, ws, Zb, pre):
    """Status of queued row i, with its unit eigenvectors of the scaled tridiagonal in Z unless
    it failed: for the rows take_found could not serve (it serves the common case cheaper)."""
    st = status[i]
    if st & FAILED == 0:
        st |= tri_vectors(dS[i], eS[i], n, lam[i], m, bounds[_TN, i], Z, ws, Zb[i], pre[i])
    return st


@njit(**_INLINE)
def unscale(lam, m, p):
    for j in range(m):
        lam[j] = math.ldexp(lam[j], p)


# --- tridiagonal batch kernel ---


@njit(**_JIT)
def _tri_batch(diag, off, lo, hi, vectors, derivatives, c0, c1, nchunks, vals, vecs, dd, de,
               suspect):
    """Eigenvalues lo..hi-1 of matrices in chunks c0..c1-1 into vals; their vectors, needed for
    vecs (vectors) or for dd and de (derivatives), into whichever of the two is asked for.
    Derivatives alone skip storing the vectors and their sign fix: q_ij**2 and 2 q_ij q_{i+1,j}
    do not depend on the sign. Returns how many of these matrices it flagged in suspect, so that
    a caller learns whether any was without a numpy reduction (inside a training loop one cost
    as much as 3% of a batch-64 step: docs/design.md, "Training")."""
    B, n = diag.shape
    m = hi - lo
    solve = vectors or derivatives
    flagged = 0
    for c in range(c0, c1):
        b0, b1 = chunk_bounds(c, nchunks, B)
        cap = min(BLOCK, b1 - b0)
        dS, eS, bounds, pexp, rows, status, lam, Z, ws = block_scratch(cap, n, m, solve)
        Zb, pre, trow, tcol = vector_scratch(cap, n, m, solve)
        for s0 in range(b0, b1, BLOCK):
            nrows = 0
            for b in range(s0, min(s0 + BLOCK, b1)):
                i = b - s0
                amax = 0.0
                chk = 0.0
                for q in range(n):
                    x = np.float64(diag[b, q])
                    amax = max(amax, abs(x))
                    chk += x * 0.0
                for q in range(n - 1):
                    x = np.float64(off[b, q])
                    amax = max(amax, abs(x))
                    chk += x * 0.0
                st = special_matrix(chk, amax, np.float64(diag[b, 0]), n, lo, hi, solve,
                                    lam[i], Z)
                if st >= 0:
                    write_row(b, n, m, vectors, st, lam[i], Z, vals, vecs, suspect)
                    if st != 0:
                        flagged += 1
                    if derivatives:
                        write_derivatives(b, n, m, Z, dd, de)
                    continue
                pexp[i] = scale_exponent(amax)
                sc = math.ldexp(1.0, -pexp[i])
                for q in range(n):
                    dS[i, q] = np.float64(diag[b, q]) * sc
                for q in range(n - 1):
                    eS[i, q] = np.float64(off[b, q]) * sc
                nrows = admit_row(i, nrows, dS, eS, bounds, status, rows, n)
            solve_block(dS, eS, bounds, status, rows, nrows, n, lo, hi, solve, lam, Zb, pre,
                        trow, tcol)
            for r in range(nrows):
                i = rows[r]
                st = status[i]
                if solve and not take_found(i, st, m, n, Zb, pre, Z):
                    st = row_vectors(i, dS, eS, bounds, status, lam, n, m, Z, ws, Zb, pre)
                unscale(lam[i], m, pexp[i])
                write_row(s0 + i, n, m, vectors, st, lam[i], Z, vals, vecs, suspect)
                if st != 0:
                    flagged += 1
                if derivatives:
                    write_derivatives(s0 + i, n, m, Z, dd, de)
    return flagged


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


# --- dense: the Householder reduction of many small matrices at once ---

#: matrices reduced together by householder_lanes, one per lane. Its loops run across the lanes
#: (a loop over a row of one small matrix is too short to vectorize). Each loop's entry costs
#: aliasing checks and a vector body of 32 lanes: 64 lanes pay for them.
HH_LANES = 64
#: largest n reduced across lanes, copies into and out of the lane block included. Against one
#: matrix at a time: 1.56-1.8x at n = 16, 1.16-1.27x at 24, 0.96-1.31x at 28, as the block
#: (64 n^2 float64, 288 KiB at 24) outgrows the cache (python -m benchmarks.householder_lanes,
#: four runs on 2026-12-04).
HH_LANES_MAX_N = 24


@njit(**_FAST)
def _reflector_lanes(row, start, end, tau, beta, s):
    """_reflector for x = row[start:end, l] in every lane l: on return row[start:end, l] = v
    (v[0] = 1) and tau[l], beta[l] are set; a lane with x[1:] = 0 gets tau = 0, beta = x[0] and
    v = (x[0], 0, ..., 0) (the identity, as _reflector's). s: (2, HH_LANES) scratch."""
    for l in range(HH_LANES):
        s[0, l] = 0.0
    for t in range(start + 1, end):
        for l in range(HH_LANES):
            s[0, l] += row[t, l] * row[t, l]
    for l in range(HH_LANES):
        alpha = row[start, l]
        xn2 = s[0, l]
        b = -math.copysign(math.sqrt(alpha * alpha + xn2), alpha)
        zero = xn2 == 0.0
        tau[l] = 0.0 if zero else (b - alpha) / b
        beta[l] = alpha if zero else b
        s[1, l] = 0.0 if zero else 1.0 / (alpha - b)
        row[start, l] = alpha if zero else 1.0
    for t in range(start + 1, end):
        for l in range(HH_LANES):
            row[t, l] *= s[1, l]


@njit(**_FAST)
def householder_lanes(W, n, d, e, tau, p, vn, s):
    """householder_tridiagonal of the HH_LANES matrices W[:, :, l] at once: the same steps, the
    same storage (row j of lane l keeps v_j; d, e, tau (n, HH_LANES)), each loop running across
    the lanes. Every lane takes every step (a zero lane gives zeros), so a matrix's numbers do
    not depend on its lane or on the others. p, vn: (n, HH_LANES), s: (2, HH_LANES) scratch."""
    if n <= 2:
        for j in range(n):
            for l in range(HH_LANES):
                d[j, l] = W[j, j, l]
        if n == 2:
            for l in range(HH_LANES):
                e[0, l] = W[0, 1, l]
        return
    _reflector_lanes(W[0], 1, n, tau[0], e[0], s)
    for l in range(HH_LANES):
        d[0, l] = W[0, 0, l]
    v = W[0]
    for i in range(1, n):  # step 0's product p = W22 v (unscaled)
        wr = W[i]
        for l in range(HH_LANES):
            p[i, l] = 0.0
        for t in range(1, n):
            for l in range(HH_LANES):
                p[i, l] += wr[t, l] * v[t, l]
    for j in range(n - 2):
        a0 = j + 1
        v = W[j]
        tj = tau[j]
        _lanes_w(p, v, tj, a0, n, s)
        r = W[a0]  # row j+1 first: it defines the next reflector
        for a in range(a0, n):
            for l in range(HH_LANES):
                r[a, l] -= v[a0, l] * p[a, l] + p[a0, l] * v[a, l]
        for l in range(HH_LANES):
            d[a0, l] = r[a0, l]
        if a0 == n - 2:
            for l in range(HH_LANES):
                e[a0, l] = r[a0 + 1, l]
            _lanes_update(W, v, p, a0, n)
        else:
            _reflector_lanes(r, a0 + 1, n, tau[a0], e[a0], s)
            _lanes_update_product(W, v, p, r, vn, a0, n)
    for l in range(HH_LANES):
        d[n - 1, l] = W[n - 1, n - 1, l]


@njit(**_INLINE)
def _lanes_w(p, v, tj, a0, n, s):
    """p[a0:] <- w = tau p - (tau^2/2)(p.v) v in every lane."""
    for l in range(HH_LANES):
        s[0, l] = 0.0
    for a in range(a0, n):
        for l in range(HH_LANES):
            p[a, l] *= tj[l]
            s[0, l] += p[a, l] * v[a, l]
    for l in range(HH_LANES):
        s[0, l] *= -0.5 * tj[l]
    for a in range(a0, n):
        for l in range(HH_LANES):
            p[a, l] += s[0, l] * v[a, l]


@njit(**_INLINE)
def _lanes_update(W, v, p, a0, n):
    """The rank-2 update W[i, a0:] -= v_i w + w_i v of rows a0+1..n-1 in every lane."""
    for i in range(a0 + 1, n):
        wr = W[i]
        for a in range(a0, n):
            for l in range(HH_LANES):
                wr[a, l] -= v[i, l] * p[a, l] + p[i, l] * v[a, l]


@njit(**_INLINE)
def _lanes_update_product(W, v, p, r, vn, a0, n):
    """_lanes_update fused with the next step's product p = W22 v' (v' = r[a0+1:], the next
    reflector): one sweep over the trailing block."""
    for i in range(a0 + 1, n):
        wr = W[i]
        for l in range(HH_LANES):
            wr[a0, l] -= v[i, l] * p[a0, l] + p[i, l] * v[a0, l]
            vn[i, l] = 0.0
        for a in range(a0 + 1, n):
            for l in range(HH_LANES):
                x = wr[a, l] - (v[i, l] * p[a, l] + p[i, l] * v[a, l])
                wr[a, l] = x
                vn[i, l] += x * r[a, l]
    for i in range(a0 + 1, n):
        for l in range(HH_LANES):
            p[i, l] = vn[i, l]


@njit(**_JIT)
def lanes_scratch(n, max_n=HH_LANES_MAX_N):
    """householder_lanes' arrays (W, d, e, tau, p, vn, s) for n <= max_n, else empty ones (the
    per-matrix reduction serves; benchmarks.householder_lanes passes max_n = n to time lanes
    above the cutoff)."""
    m = n if n <= max_n else 0
    L = HH_LANES
    return (np.zeros((m, m, L)), np.zeros((m, L)), np.zeros((m, L)), np.zeros((m, L)),
            np.zeros((m, L)), np.zeros((m, L)), np.zeros((2, L)))


@njit(**_JIT)
def reduce_queued(W, tau, off, n, queue, nq, dS, eS, lanes):
    """The Householder reduction of the queued matrices W[off + i] (scaled, i = queue[:nq];
    lanes from lanes_scratch(n), so n <= HH_LANES_MAX_N) in groups of HH_LANES: each group's
    lanes are filled (zeros past the last), reduced, and its reflectors, tau[off + i], dS[i]
    and eS[i] written back as householder_tridiagonal would.
    The copies run row by row of the lane block: a matrix at a time, each entry of a matrix
    would land in a cache line of its own, and entry by entry across the lanes, each read
    would come from another matrix; either way they cost more than the reduction saved."""
    WL, dL, eL, tL, p, vn, s = lanes
    for g0 in range(0, nq, HH_LANES):
        m = min(HH_LANES, nq - g0)
        for q in range(n):
            Wq = WL[q]
            for l in range(m):
                wr = W[off + queue[g0 + l], q]
                for t in range(n):
                    Wq[t, l] = wr[t]
            for l in range(m, HH_LANES):
                for t in range(n):
                    Wq[t, l] = 0.0
        householder_lanes(WL, n, dL, eL, tL, p, vn, s)
        for q in range(n):
            Wq = WL[q]
            for l in range(m):
                wr = W[off + queue[g0 + l], q]
                for t in range(q + 1, n):
                    wr[t] = Wq[t, l]
        for l in range(m):
            i = queue[g0 + l]
            for q in range(n):
                dS[i, q] = dL[q, l]
                tau[off + i, q] = tL[q, l] if q < n - 2 else 0.0
            for q in range(n - 1):
                eS[i, q] = eL[q, l]


@njit(**_JIT)
def _dense_batch(A, lo, hi, vectors, c0, c1, nchunks, vals, vecs, suspect):
    """Eigenvalues lo..hi-1 of the dense symmetric A[b] in chunks c0..c1-1 into vals, their
    vectors into vecs if vectors; returns how many of these matrices it flagged in suspect
    (as _tri_batch does, so that a caller need not reduce suspect)."""
    B = A.shape[0]
    n = A.shape[1]
    m = hi - lo
    flagged = 0
    for c in range(c0, c1):
        b0, b1 = chunk_bounds(c, nchunks, B)
        cap = min(BLOCK, b1 - b0)
        dS, eS, bounds, pexp, rows, status, lam, Z, ws = block_scratch(cap, n, m, vectors)
        Zb, pre, trow, tcol = vector_scratch(cap, n, m, vectors)
        # the reflectors of every matrix in the block, for the back-transformation
        W = np.empty((cap, n, n))
        tau = np.zeros((cap, max(n, 1)))
        p = np.empty(max(n, 1))
        vn = np.empty(2 * max(n, 1))
        lanes = lanes_scratch(n)
        queue = np.empty(cap, dtype=np.int64)
        for s0 in range(b0, b1, BLOCK):
            nrows = 0
            nq = 0
            for b in range(s0, min(s0 + BLOCK, b1)):
                i = b - s0
                Ab = A[b]
                amax, chk = dense_scan(Ab, n)
                st = special_matrix(chk, amax, np.float64(Ab[0, 0]), n, lo, hi, vectors,
                                    lam[i], Z)
                if st >= 0:
                    write_row(b, n, m, vectors, st, lam[i], Z, vals, vecs, suspect)
                    flagged += st != 0
                    continue
                pexp[i] = scale_exponent(amax)
                sc = math.ldexp(1.0, -pexp[i])
                Wi = W[i]
                for q in range(n):
                    ar = Ab[q]
                    wr = Wi[q]
                    for t in range(n):
                        wr[t] = np.float64(ar[t]) * sc
                queue[nq] = i
                nq += 1
                if n > HH_LANES_MAX_N:
                    householder_tridiagonal(Wi, n, dS[i], eS[i], tau[i], p, vn)
            if n <= HH_LANES_MAX_N:
                reduce_queued(W, tau, 0, n, queue, nq, dS, eS, lanes)
            for q in range(nq):
                nrows = admit_row(queue[q], nrows, dS, eS, bounds, status, rows, n)
            solve_block(dS, eS, bounds, status, rows, nrows, n, lo, hi, vectors, lam, Zb, pre,
                        trow, tcol)
            for r in range(nrows):
                i = rows[r]
                b = s0 + i
                st = status[i]
                if vectors and not take_found(i, st, m, n, Zb, pre, Z):
                    st = row_vectors(i, dS, eS, bounds, status, lam, n, m, Z, ws, Zb, pre)
                if vectors and st & FAILED == 0:
                    Ab = A[b]
                    sc = math.ldexp(1.0, -pexp[i])
                    rmax = RESID_C * n * EPS * _inf_norm(Ab, n, sc)
                    for j in range(m):
                        z = Z[j]
                        back_transform(W[i], n, tau[i], z)
                        if _dense_residual(Ab, n, sc, lam[i, j], z, p) > rmax:
                            st |= FAILED
                unscale(lam[i], m, pexp[i])
                write_row(b, n, m, vectors, st, lam[i], Z, vals, vecs, suspect)
                flagged += st != 0
    return flagged


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


# --- trust region on a tridiagonal matrix (front end and method: kernels/trust_region.py) ---

#: Newton/bisection steps allowed for one secular equation
TR_MAX_STEPS = 200


@njit(**_JIT)
def tr_ldl_solve(d, e, n, mu, rhs, out, D):
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
def tr_dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i] * b[i]
    return s


@njit(**_JIT)
def tr_objective(d, e, b, x, n):
    s = 0.0
    for i in range(n):
        s += d[i] * x[i] * x[i] + 2.0 * b[i] * x[i]
    for i in range(n - 1):
        s += 2.0 * e[i] * x[i] * x[i + 1]
    return s


@njit(**_JIT)
def tr_secular(d, e, b, lam0, n, lo, hi, x, w, D, nb):
    """``x(t)`` at the root of ``h`` in ``[lo, hi]`` (module docstring); ``x`` is left unit."""
    t = hi
    for _ in range(TR_MAX_STEPS):
        tr_ldl_solve(d, e, n, lam0 - t, nb, x, D)
        norm = math.sqrt(tr_dot(x, x, n))
        h = 1.0 / norm - 1.0
        if h <= 0.0:
            lo = t
        if h >= 0.0:
            hi = t
        if abs(h) <= 4.0 * EPS or hi - lo <= 4.0 * EPS * hi:
            break
        tr_ldl_solve(d, e, n, lam0 - t, x, w, D)
        step = t - h * norm * norm * norm / tr_dot(x, w, n)
        if not (step > lo and step < hi):
            step = 0.5 * (lo + hi)
        t = step
    norm = math.sqrt(tr_dot(x, x, n))
    for i in range(n):
        x[i] /= norm


@njit(**_JIT)
def tr_batch(diag, off, b, lam0, q0, ball, r0, r1, X, values, hard):
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
        bnorm = math.sqrt(tr_dot(b[r], b[r], n))
        tol = 16.0 * n * EPS * max(tnorm, bnorm, 1e-300)
        for i in range(n):
            nb[i] = -b[r, i]
        done = False
        if ball and lam0[r] > tol:
            tr_ldl_solve(d, e, n, 0.0, nb, x, D)
            done = tr_dot(x, x, n) <= 1.0
        beta0 = tr_dot(q0[r], b[r], n)
        if not done and abs(beta0) <= tol:
            for i in range(n):
                w[i] = nb[i] + beta0 * q0[r, i]  # −b with its q_0 component removed
            tr_ldl_solve(d, e, n, lam0[r] - tol, w, x, D)
            along = tr_dot(q0[r], x, n)
            for i in range(n):
                x[i] -= along * q0[r, i]
            pp = tr_dot(x, x, n)
            if pp <= 1.0:
                tau = math.sqrt(1.0 - pp)
                sign = -1.0 if beta0 > 0 else 1.0
                for i in range(n):
                    x[i] += sign * tau * q0[r, i]
                hard[r] = True
                done = True
        if not done:
            tr_secular(d, e, b[r], lam0[r], n, abs(beta0), max(bnorm, abs(beta0)), x, w, D, nb)
        values[r] = tr_objective(d, e, b[r], x, n)


@njit(**_JIT)
def tr_reduce(A, W, d, e, tau, bT, r0, r1):
    """Rows r0..r1-1: the reduction A = Q T Qᵀ (reflectors in W, tau; T in d, e; 64 matrices
    at once for n <= HH_LANES_MAX_N, as the dense batch kernels) and bT <- Qᵀ bT."""
    n = A.shape[1]
    p = np.empty(max(n, 1))
    vn = np.empty(2 * max(n, 1))
    for r in range(r0, r1):
        for i in range(n):
            for j in range(n):
                W[r, i, j] = A[r, i, j]
    lanes = n <= HH_LANES_MAX_N
    if lanes:
        reduce_queued(W, tau, 0, n, np.arange(r0, r1), r1 - r0, d, e, lanes_scratch(n))
    for r in range(r0, r1):
        if not lanes:
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
def tr_back(W, tau, X, r0, r1):
    for r in range(r0, r1):
        back_transform(W[r], X.shape[1], tau[r], X[r])


# --- eigenvector derivatives: the adjoint solve of an eigenvector's backward pass ---
# (front end and method: kernels/eigenvector_adjoint.py)


@njit(**_JIT)
def _sturm_step(q, d, e2):
    """The next LDL^T pivot d - e2 / q of a Sturm count, with its guard (lanes_sturm_laguerre)."""
    q = d - e2 / q
    return -PIVMIN if abs(q) < PIVMIN else q


@njit(**_JIT)
def factor_and_count(d, e, n, rho, tol, ptol, ws):
    """lu_factor(d, e, n, rho, ptol, ws) with 1/u0 in ws[5], and the Sturm counts
    #{lam_j < rho - tol}, #{lam_j < rho + tol} of the scaled tridiagonal (d, e).

    The three recurrences are independent chains of divisions: one loop runs them side by
    side so that their latencies overlap (three loops cost three times as long)."""
    u0 = ws[0]
    u1 = ws[1]
    u2 = ws[2]
    lm = ws[3]
    pv = ws[4]
    ql = _sturm_step(1.0, d[0] - (rho - tol), 0.0)
    qh = _sturm_step(1.0, d[0] - (rho + tol), 0.0)
    cl = 1 if ql < 0.0 else 0
    ch = 1 if qh < 0.0 else 0
    a = d[0] - rho
    b = e[0] if n > 1 else 0.0
    for k in range(n - 1):
        c = e[k]
        c2 = c * c
        ql = _sturm_step(ql, d[k + 1] - (rho - tol), c2)
        qh = _sturm_step(qh, d[k + 1] - (rho + tol), c2)
        cl += ql < 0.0
        ch += qh < 0.0
        dn = d[k + 1] - rho
        en = e[k + 1] if k + 2 < n else 0.0
        keep = abs(a) >= abs(c)
        piv = a if keep else c
        m = (c if keep else a) / piv if piv != 0.0 else 0.0
        lm[k] = m
        pv[k] = 0.0 if keep else 1.0
        u0[k] = piv if abs(piv) >= ptol else math.copysign(ptol, piv)
        u1[k] = b if keep else dn
        u2[k] = 0.0 if keep else en
        a, b = (dn - m * b, en) if keep else (b - m * dn, -m * en)
    u0[n - 1] = a if abs(a) >= ptol else math.copysign(ptol, a)
    u1[n - 1] = 0.0
    u2[n - 1] = 0.0
    for k in range(n):
        ws[5, k] = 1.0 / u0[k]
    return cl, ch


@njit(**_JIT)
def _u_solve_reciprocal(n, ws, y):
    """Back substitution with U by its pivots' reciprocals (ws[5]), without u_solve's rescaling
    (the caller normalized y)."""
    u1 = ws[1]
    u2 = ws[2]
    ri = ws[5]
    for k in range(n - 1, -1, -1):
        t = y[k]
        if k + 1 < n:
            t -= u1[k] * y[k + 1]
        if k + 2 < n:
            t -= u2[k] * y[k + 2]
        y[k] = t * ri[k]


@njit(**_JIT)
def _remove_along(y, q, n):
    """y <- y - q (q^T y) for a unit q."""
    s = 0.0
    for i in range(n):
        s += q[i] * y[i]
    for i in range(n):
        y[i] -= s * q[i]


@njit(**_JIT)
def adjoint_solve(d, e, n, k, q, r, eps, ws, y):
    """y = P (T - rho I)^{-1} P r for the scaled tridiagonal T = (d, e) (||T|| ~ 1), its unit k-th
    eigenvector q, P = I - q q^T and rho = q^T T q; r is overwritten. Returns True (and y = 0)
    at a tie: an eigenvalue other than lam_k within tol = 8 n eps ||T||_F of rho, found by two
    Sturm counts (eps is the caller's dtype's).

    The solve is LAPACK's gttrf/gttrs (partial pivoting), a pivot below eps64 ||T|| raised to it
    as in inverse iteration (stein): T - rho I is singular to working precision along q, and the
    large component the solve produces there is removed by the final P; the part on q^perp has
    the error of a backward-stable solve, O(eps64 ||T|| / gap) relative
    (theory/solution-derivatives.md, 1).
    """
    rho = 0.0
    fro = 0.0
    for i in range(n):
        t = d[i] * q[i]
        fro += d[i] * d[i]
        if i > 0:
            t += e[i - 1] * q[i - 1]
            fro += 2.0 * e[i - 1] * e[i - 1]
        if i < n - 1:
            t += e[i] * q[i + 1]
        rho += q[i] * t
    for i in range(n):
        y[i] = 0.0
    if n == 1:
        return False
    if fro == 0.0:
        return True
    tol = 8.0 * n * eps * math.sqrt(fro)
    tnorm = spectral_bounds(d, e, n)[_TN]
    cl, ch = factor_and_count(d, e, n, rho, tol, EPS * tnorm, ws)
    if cl != k or ch != k + 1:
        return True
    _remove_along(r, q, n)
    s = 0.0
    for i in range(n):
        s = max(s, abs(r[i]))
    if not s > 0.0:
        return False
    rs = ws[6]
    for i in range(n):
        y[i] = r[i] / s
        rs[i] = y[i]
    l_solve(n, ws, y)
    _u_solve_reciprocal(n, ws, y)
    _remove_along(y, q, n)
    if not _projected_residual_ok(d, e, n, rho, q, rs, y, tnorm, eps, ws[7]):
        # Where T splits (an off-diagonal at rounding level) the elimination can meet a second
        # pivot at rounding level away from q, and the solve then blows up along a direction the
        # final P does not remove; the residual on q^perp exposes it. Such rows are solved again
        # densely with the rank-one shift (T - rho I + ||T|| q q^T), exact on q^perp.
        _shifted_dense_solve(d, e, n, rho, q, rs, tnorm, y)
        _remove_along(y, q, n)
    for i in range(n):
        y[i] *= s
    return False


@njit(**_JIT)
def _projected_residual_ok(d, e, n, rho, q, rs, y, tnorm, eps, z):
    """Whether y (on q^perp) solves P (T - rho I) y = rs to the accuracy of a backward-stable
    solve: ||P (T - rho I) y - rs||_inf <= 64 n eps (||T|| ||y||_inf + ||rs||_inf), eps the
    input dtype's (a float32 q carries float32 errors into P and rho)."""
    ymax = 0.0
    rmax = 0.0
    for i in range(n):
        t = (d[i] - rho) * y[i]
        if i > 0:
            t += e[i - 1] * y[i - 1]
        if i < n - 1:
            t += e[i] * y[i + 1]
        z[i] = t
        ymax = max(ymax, abs(y[i]))
        rmax = max(rmax, abs(rs[i]))
    _remove_along(z, q, n)
    worst = 0.0
    for i in range(n):
        worst = max(worst, abs(z[i] - rs[i]))
    return worst <= 64.0 * n * eps * (tnorm * ymax + rmax)


@njit(**_JIT)
def _shifted_dense_solve(d, e, n, rho, q, rs, tnorm, y):
    """y = (T - rho I + t q q^T)^{-1} rs, t = max(||T||, 1), by Gaussian elimination with
    partial pivoting, O(n^3): the rank-one term moves only the zero eigenvalue of T - rho I
    (to t), so on q^perp, where rs lies, this is (T - rho I)^+ (the torch path's formula)."""
    t = max(tnorm, 1.0)
    M = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            M[i, j] = t * q[i] * q[j]
    for i in range(n):
        M[i, i] += d[i] - rho
        if i < n - 1:
            M[i, i + 1] += e[i]
            M[i + 1, i] += e[i]
        y[i] = rs[i]
    for c in range(n):
        p = c
        for i in range(c + 1, n):
            if abs(M[i, c]) > abs(M[p, c]):
                p = i
        if p != c:
            for j in range(n):
                M[c, j], M[p, j] = M[p, j], M[c, j]
            y[c], y[p] = y[p], y[c]
        piv = M[c, c] if M[c, c] != 0.0 else EPS * t
        for i in range(c + 1, n):
            f = M[i, c] / piv
            for j in range(c, n):
                M[i, j] -= f * M[c, j]
            y[i] -= f * y[c]
        M[c, c] = piv
    for i in range(n - 1, -1, -1):
        acc = y[i]
        for j in range(i + 1, n):
            acc -= M[i, j] * y[j]
        y[i] = acc / M[i, i]


@njit(**_JIT)
def _tri_adjoint_batch(diag, off, k, eps, q, r, c0, c1, nchunks, gd, ge, tie):
    """For each matrix b: v = (T_b - lam_k I)^+ P r_b (adjoint_solve) and the gradient
    gd[b, i] = -v_i q_i, ge[b, i] = -(v_i q_{i+1} + v_{i+1} q_i); tie[b] as adjoint_solve."""
    B, n = diag.shape
    d = np.empty(n)
    e = np.zeros(n)
    qq = np.empty(n)
    rr = np.empty(n)
    y = np.empty(n)
    ws = np.zeros((8, n))
    for c in range(c0, c1):
        b0, b1 = chunk_bounds(c, nchunks, B)
        for b in range(b0, b1):
            amax = 0.0
            for i in range(n):
                amax = max(amax, abs(np.float64(diag[b, i])))
            for i in range(n - 1):
                amax = max(amax, abs(np.float64(off[b, i])))
            sc = math.ldexp(1.0, -scale_exponent(amax)) if amax > 0.0 else 1.0
            for i in range(n):
                d[i] = np.float64(diag[b, i]) * sc
                qq[i] = np.float64(q[b, i])
                rr[i] = np.float64(r[b, i])
            for i in range(n - 1):
                e[i] = np.float64(off[b, i]) * sc
            tie[b] = adjoint_solve(d, e, n, k, qq, rr, eps, ws, y)
            # (A - lam I)^+ = sc (T_scaled - lam_scaled I)^+
            for i in range(n):
                gd[b, i] = -(y[i] * sc) * qq[i]
            for i in range(n - 1):
                ge[b, i] = -(y[i] * qq[i + 1] + y[i + 1] * qq[i]) * sc


@njit(**_FAST)
def _reflect_t2(W, n, tau, y, z):
    """y <- Q^T y and z <- Q^T z (Q^T = H_{n-3} ... H_0) for the reflectors of
    householder_tridiagonal, both in one sweep over them; plain indices, no slices (a slice per
    reflector cost more than its arithmetic at n = 16)."""
    for j in range(n - 2):
        tj = tau[j]
        if tj == 0.0:
            continue
        sy = 0.0
        sz = 0.0
        for t in range(j + 1, n):
            w = W[j, t]
            sy += w * y[t]
            sz += w * z[t]
        sy *= tj
        sz *= tj
        for t in range(j + 1, n):
            w = W[j, t]
            y[t] -= sy * w
            z[t] -= sz * w


@njit(**_FAST)
def _reflect(W, n, tau, y):
    """y <- Q y = H_0 ... H_{n-3} y (back_transform with plain indices)."""
    for j in range(n - 3, -1, -1):
        tj = tau[j]
        if tj == 0.0:
            continue
        s = 0.0
        for t in range(j + 1, n):
            s += W[j, t] * y[t]
        s *= tj
        for t in range(j + 1, n):
            y[t] -= s * W[j, t]


@njit(**_JIT)
def _dense_solution_batch(A, k, c0, c1, nchunks, vals, vecs, suspect, W, tau, dT, eT, pexp):
    """_dense_batch for the one eigenpair k, keeping what the adjoint needs: the reflectors of
    each matrix (W[b], tau[b]), its scaled tridiagonal (dT[b], eT[b]) and scale exponent.
    Returns how many of these matrices it flagged in suspect."""
    B = A.shape[0]
    n = A.shape[1]
    flagged = 0
    for c in range(c0, c1):
        b0, b1 = chunk_bounds(c, nchunks, B)
        cap = min(BLOCK, b1 - b0)
        dS, eS, bounds, pex, rows, status, lam, Z, ws = block_scratch(cap, n, 1, True)
        Zb, pre, trow, tcol = vector_scratch(cap, n, 1, True)
        p = np.empty(max(n, 1))
        vn = np.empty(2 * max(n, 1))
        lanes = lanes_scratch(n)
        queue = np.empty(cap, dtype=np.int64)
        for s0 in range(b0, b1, BLOCK):
            nrows = 0
            nq = 0
            for b in range(s0, min(s0 + BLOCK, b1)):
                i = b - s0
                Ab = A[b]
                amax, chk = dense_scan(Ab, n)
                # a row solved without iterating keeps no reflectors (tau stays 0: identity)
                pexp[b] = scale_exponent(amax) if amax > 0.0 else 0
                sc = math.ldexp(1.0, -pexp[b])
                for q in range(n):
                    dT[b, q] = np.float64(Ab[q, q]) * sc
                    eT[b, q] = 0.0
                    tau[b, q] = 0.0
                st = special_matrix(chk, amax, np.float64(Ab[0, 0]), n, k, k + 1, True, lam[i], Z)
                if st >= 0:
                    write_row(b, n, 1, True, st, lam[i], Z, vals, vecs, suspect)
                    flagged += st != 0
                    continue
                pex[i] = pexp[b]
                Wi = W[b]
                for q in range(n):
                    ar = Ab[q]
                    wr = Wi[q]
                    for t in range(n):
                        wr[t] = np.float64(ar[t]) * sc
                queue[nq] = i
                nq += 1
                if n > HH_LANES_MAX_N:
                    householder_tridiagonal(Wi, n, dS[i], eS[i], tau[b], p, vn)
            if n <= HH_LANES_MAX_N:
                reduce_queued(W, tau, s0, n, queue, nq, dS, eS, lanes)
            for q in range(nq):
                i = queue[q]
                for t in range(n):
                    dT[s0 + i, t] = dS[i, t]
                for t in range(n - 1):
                    eT[s0 + i, t] = eS[i, t]
                nrows = admit_row(i, nrows, dS, eS, bounds, status, rows, n)
            solve_block(dS, eS, bounds, status, rows, nrows, n, k, k + 1, True, lam, Zb, pre,
                        trow, tcol)
            for r in range(nrows):
                i = rows[r]
                b = s0 + i
                st = status[i]
                if not take_found(i, st, 1, n, Zb, pre, Z):
                    st = row_vectors(i, dS, eS, bounds, status, lam, n, 1, Z, ws, Zb, pre)
                if st & FAILED == 0:
                    Ab = A[b]
                    sc = math.ldexp(1.0, -pex[i])
                    rmax = RESID_C * n * EPS * _inf_norm(Ab, n, sc)
                    back_transform(W[b], n, tau[b], Z[0])
                    if _dense_residual(Ab, n, sc, lam[i, 0], Z[0], p) > rmax:
                        st |= FAILED
                unscale(lam[i], 1, pex[i])
                write_row(b, n, 1, True, st, lam[i], Z, vals, vecs, suspect)
                flagged += st != 0
    return flagged


@njit(**_JIT)
def _dense_adjoint_batch(q, r, k, eps, W, tau, dT, eT, pexp, c0, c1, nchunks, G, tie):
    """For each matrix b = H T H^T (reflectors and scaled T from _dense_solution_batch):
    v = (A_b - lam_k I)^+ P r_b = H (T - lam I)^+ H^T P r_b, O(n^2), and the gradient
    G[b] = -(v q^T + q v^T) / 2; tie[b] as adjoint_solve."""
    B, n = q.shape
    qq = np.empty(n)
    qT = np.empty(n)
    rT = np.empty(n)
    y = np.empty(n)
    ws = np.zeros((8, n))
    for c in range(c0, c1):
        b0, b1 = chunk_bounds(c, nchunks, B)
        for b in range(b0, b1):
            for i in range(n):
                qq[i] = np.float64(q[b, i])
                qT[i] = qq[i]
                rT[i] = np.float64(r[b, i])
            _reflect_t2(W[b], n, tau[b], qT, rT)
            tie[b] = adjoint_solve(dT[b], eT[b], n, k, qT, rT, eps, ws, y)
            _reflect(W[b], n, tau[b], y)
            h = -0.5 * math.ldexp(1.0, -pexp[b])
            Gb = G[b]
            for i in range(n):
                yi = y[i] * h
                qi = qq[i] * h
                for j in range(n):
                    Gb[i, j] = yi * qq[j] + qi * y[j]
