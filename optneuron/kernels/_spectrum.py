"""Compiled full-spectrum kernels: every eigenvalue, and the weighted gradient of <w, lam>.

Self-contained on purpose: numba's on-disk cache is keyed on the source file of each cached
function only (see _compiled.py), so nothing here calls a jitted function of another file.

Per matrix (scaled by a power of two to ||T|| ~ 1):
  * eigenvalues by implicit QL with Wilkinson's shift (EISPACK tql1/tql2), sorted ascending;
    LANES matrices at a time, their sweeps side by side in SIMD lanes (_ql_values_lanes: the
    same operations as the scalar _ql_implicit, so the same values bit for bit);
  * for the gradient: one twisted factorization per eigenvalue, all n eigenvalues of the matrix
    advanced together (the recurrences run over i, the eigenvalues are the vectorized inner
    loop), giving unnormalized eigenvectors y_k with (T - lam_k) y_k = gamma_r e_r; each is
    checked by its explicit residual. Within groups of eigenvalues closer than ORTHO_RTOL ||T||
    the vectors are orthonormalized (modified Gram-Schmidt), kept only if that removed less
    than half of each vector and the residuals still pass;
  * otherwise (a tight cluster, or a failed residual check): implicit QL again with the
    rotations accumulated, whose vectors are orthonormal to working precision inside clusters
    too. Either way the vectors are orthonormal within clusters, so Q diag(w) Q^T is a valid
    Clarke subgradient of <w, lam>, and the gradient itself when w is constant on each cluster.
The gradient terms are reduced from the vectors at once: sum_k w_k q_ik^2,
2 sum_k w_k q_ik q_{i+1,k} (tridiagonal) or H (Y diag(w) Y^T) H^T (dense, A = H T H^T).
"""

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")
#: for the reductions (sums of n products: the weighted gradient, the Householder reduction's
#: and the back-transformation's dot products): reassociation lets them vectorize; the order
#: is still fixed by the code, so a matrix's result never depends on the batch or the threads
_JIT_SUM = dict(_JIT, fastmath={"reassoc", "contract"})

EPS = 2.220446049250313e-16
#: a pivot of a twisted factorization smaller than this (||T|| ~ 1) is replaced by -PIVMIN
PIVMIN = 1e-120
#: off-diagonals below this (||T|| ~ 1) are zero for QL's deflation test
SAFMIN = 1e-290
#: implicit QL sweeps allowed per eigenvalue (EISPACK's limit)
MAXQL = 30
#: eigenvalues closer than this (relative to ||T||) are orthonormalized as a group (Gram-Schmidt,
#: else the QL-vector path); farther apart, twisted vectors are orthogonal to O(eps / 1e-4), a
#: few 1e-12. 1e-4, not 1e-3: on random n = 45 tridiagonals 68% of the
#: matrices had a pair within 1e-3 ||T|| and took the group path, ~10% within 1e-4; the kernel
#: ran 5% faster, with the same largest gradient error against LAPACK on 4096 matrices
ORTHO_RTOL = 1e-4
#: residual ||T y - lam y|| / ||y|| above RESID_C n eps ||T|| -> the vector is rejected
RESID_C = 16.0

OK = 0
FAILED = 2


@njit(**_JIT)
def _scale_exponent(amax):
    """p with amax * 2**-p in [0.5, 1); clamped so that 2**-p stays finite."""
    _, p = math.frexp(amax)
    return max(p, -1020)


@njit(**_JIT)
def _wilkinson_g(dl, dl1, dm, el):
    """The start g of an implicit QL sweep with Wilkinson's shift (EISPACK tql1), hypot(g, 1)
    written as a select so that it vectorizes: for |g| >= 1e150, g^2 + 1 rounds to g^2."""
    g = (dl1 - dl) / (2.0 * el)
    ag = abs(g)
    r = math.sqrt(g * g + 1.0) if ag < 1e150 else ag
    return dm - dl + el / (g + math.copysign(r, g))


@njit(**_JIT)
def _ql_implicit(d, e, n, vectors, Z):
    """Eigenvalues of the tridiagonal (d, e) into d, by implicit QL with Wilkinson's shift.

    e[i] couples i and i + 1 (e[n-1] = 0); e is destroyed. If vectors, the rotations are
    accumulated into the rows of Z (start from the identity: row k becomes the eigenvector of
    d[k]). Returns False if an eigenvalue needed more than MAXQL sweeps.
    """
    for l in range(n):
        it = 0
        while True:
            m = l
            while m < n - 1:
                dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= EPS * dd or abs(e[m]) < SAFMIN:
                    break
                m += 1
            if m == l:
                break
            if it == MAXQL:
                return False
            it += 1
            g = _wilkinson_g(d[l], d[l + 1], d[m], e[l])
            s = 1.0
            c = 1.0
            p = 0.0
            i = m - 1
            early = False
            while i >= l:
                f = s * e[i]
                b = c * e[i]
                r2 = f * f + g * g
                # ||T|| ~ 1: f^2 + g^2 cannot overflow; hypot only where it may underflow
                r = math.sqrt(r2) if r2 > 1e-280 else math.hypot(f, g)
                e[i + 1] = r
                if r == 0.0:
                    # an exact zero rotation: the matrix split at i + 1; sweep again from l
                    d[i + 1] -= p
                    e[m] = 0.0
                    early = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                if vectors:
                    zi = Z[i]
                    zj = Z[i + 1]
                    for k in range(n):
                        f = zj[k]
                        zj[k] = s * zi[k] + c * f
                        zi[k] = c * zi[k] - s * f
                i -= 1
            if early:
                continue
            d[l] -= p
            e[l] = g
            e[m] = 0.0
    return True


#: matrices whose QL sweeps run side by side, one per SIMD lane: a rotation is a chain of
#: dependent divisions and square roots, and the same step of LANES independent chains is
#: one vector instruction each. 128: more lanes in flight hide a step's chain (a square root,
#: then a division) and the per-step loop overhead; the lanes' sweeps drift apart as they grow
#: (one round costs its longest), but at 128 on random n = 45 tridiagonals 89% of the steps run
#: are still useful, and 1024 matrices' values and gradient took 10% less time than with 64
#: (one thread, alternating runs of the batch kernel; benchmarks/spectrum.py times the same
#: kernel). A group of fewer matrices runs only as many lanes (a multiple of 8).
LANES = 128
#: fewer matrices than this take the scalar QL one by one (benchmarks/spectrum.py --small-batches:
#: a round of the lanes costs as much for one lane as for eight)
LANES_MIN = 6
#: the dense kernel keeps each group's reflectors (GROUP_DENSE n x n) until its vectors
GROUP_DENSE = 32
# The lanes' arrays (_lanes_scratch): Dt, Et (n, LANES) the diagonals and off-diagonals, Sm
# (n, LANES) the deflation tests, and St, one flat row of _NSTATE * LANES, the lanes' state,
# field f of lane j at f * LANES + j. Lane loops run over a multiple of 8 lanes (no scalar
# remainder): with the state's rows at compile-time offsets of one array, LLVM needs runtime
# overlap checks only between the four arrays, not between every pair of rows (past eight
# checks it gives up and leaves the loop scalar).
_S, _C, _P, _G, _FLAG, _LO, _HI, _LCUR, _M, _IT, _DONE, _DL = range(12)
_NSTATE = 12


@njit(**_JIT)
def _lanes_scratch(n):
    """The lanes' arrays for order-n matrices: Dt, Et, Sm and St (see above)."""
    nn = max(n, 1)
    return (np.zeros((nn, LANES)), np.zeros((nn, LANES)), np.zeros((nn, LANES)),
            np.zeros(_NSTATE * LANES))


@njit(**_JIT)
def _ql_deflate_lanes(Dt, Et, Sm, St, nl, n, bot):
    """For each lane j: l' = the first index >= lcur whose e is not negligible (n - 1 if none)
    into the _LCUR row, and m = the first index >= l' whose e is (n - 1 if none) into the _M
    row, as _ql_implicit's search finds them: two vectorized passes over i = n-1 .. bot, the
    tests kept in Sm. A running index is updated as x t + m (1 - t), t in {0, 1} (exact on
    these integers): a select there would become a masked store, and the next row's load of
    it would wait for the store to retire."""
    L = LANES
    for j in range(nl):
        Sm[n - 1, j] = 1.0
        St[_M * L + j] = n - 1
    for i in range(n - 2, bot - 1, -1):
        x = float(i)
        for j in range(nl):
            ae = abs(Et[i, j])
            small = (ae <= EPS * (abs(Dt[i, j]) + abs(Dt[i + 1, j]))) | (ae < SAFMIN)
            Sm[i, j] = 1.0 if small else 0.0
            t = 1.0 if ((x >= St[_LCUR * L + j]) & (not small)) else 0.0
            St[_M * L + j] = x * t + St[_M * L + j] * (1.0 - t)
    for j in range(nl):
        St[_LCUR * L + j] = St[_M * L + j]  # l'
        St[_M * L + j] = n - 1
    for i in range(n - 2, bot - 1, -1):
        x = float(i)
        for j in range(nl):
            t = 1.0 if ((x >= St[_LCUR * L + j]) & (Sm[i, j] != 0.0)) else 0.0
            St[_M * L + j] = x * t + St[_M * L + j] * (1.0 - t)


@njit(**_JIT)
def _ql_sweep_lanes(Dt, Et, St, nl, top, bot):
    """One implicit QL sweep per lane, i = hi[j]-1 down to lo[j], all lanes at once.

    A lane outside its range keeps its values: every store is new a + old (1 - a), a in
    {0, 1}, which is exactly new or old (up to the sign of a zero) as long as both are finite;
    so a step whose r^2 <= 1e-280 (where _ql_implicit takes hypot, or an exact zero rotation,
    and the lane is flagged for the caller to redo) divides by 1 instead. Stores are whole
    rows, never masked (see _ql_deflate_lanes)."""
    L = LANES
    for i in range(top, bot - 1, -1):
        x = float(i)
        for j in range(nl):
            a = 1.0 if ((x >= St[_LO * L + j]) & (x < St[_HI * L + j])) else 0.0
            o = 1.0 - a
            so = St[_S * L + j]
            co = St[_C * L + j]
            po = St[_P * L + j]
            go = St[_G * L + j]
            e = Et[i, j]
            f = so * e
            b = co * e
            r2 = f * f + go * go
            tiny = r2 <= 1e-280
            r = math.sqrt(r2) if not tiny else 1.0
            s = f / r
            c = go / r
            g = Dt[i + 1, j] - po
            rr = (Dt[i, j] - g) * s + 2.0 * c * b
            p = s * rr
            Et[i + 1, j] = r * a + Et[i + 1, j] * o
            Dt[i + 1, j] = (g + p) * a + Dt[i + 1, j] * o
            St[_S * L + j] = s * a + so * o
            St[_C * L + j] = c * a + co * o
            St[_P * L + j] = p * a + po * o
            St[_G * L + j] = (c * rr - b) * a + go * o
            St[_FLAG * L + j] += a if tiny else 0.0


@njit(**_JIT)
def _ql_values_lanes(Dt, Et, Sm, St, ng, n, ok):
    """_ql_implicit on the lanes j < ng of (Dt, Et) (e[n-1] = 0), with their sweeps run side
    by side: in each round every unfinished lane deflates, finds its m and starts one sweep,
    then the rotation steps i = top .. bot run for all lanes at once, a lane taking part
    where i lies in its own sweep. Each lane sees exactly the operations of _ql_implicit, so
    the values are the same bit for bit; a lane meeting a step that _ql_implicit treats apart
    (r^2 <= 1e-280: hypot, or an exact zero rotation) is flagged, to be redone by
    _ql_implicit by the caller.
    ok[j]: 1 converged, 0 MAXQL sweeps did not suffice, -1 redo. Lanes j >= ng take no part
    (their rows hold any finite values)."""
    L = LANES
    nl = min(L, (ng + 7) // 8 * 8)
    for j in range(nl):
        St[_FLAG * L + j] = 0.0
        St[_LCUR * L + j] = 0.0
        St[_IT * L + j] = 0.0
        St[_DONE * L + j] = 0.0 if j < ng else 1.0
        St[_LO * L + j] = n
        St[_HI * L + j] = 0.0
        St[_S * L + j] = 1.0
        St[_C * L + j] = 1.0
        St[_P * L + j] = 0.0
        St[_G * L + j] = 0.0
    for j in range(ng):
        ok[j] = 1
    bot = 0
    while True:
        for j in range(nl):
            St[_DL * L + j] = St[_LCUR * L + j]
        _ql_deflate_lanes(Dt, Et, Sm, St, nl, n, bot)
        top = -1
        bot = n
        for j in range(ng):
            St[_LO * L + j] = n
            St[_HI * L + j] = 0.0
            if St[_DONE * L + j] != 0.0:
                St[_LCUR * L + j] = n - 1
                continue
            l = int(St[_LCUR * L + j])
            m = int(St[_M * L + j])
            if l != int(St[_DL * L + j]):
                St[_IT * L + j] = 0.0  # a new eigenvalue: its own MAXQL sweeps
            if m == l:
                St[_DONE * L + j] = 1.0
                continue
            if St[_IT * L + j] == MAXQL:
                ok[j] = 0
                St[_DONE * L + j] = 1.0
                St[_LCUR * L + j] = n - 1
                continue
            St[_IT * L + j] += 1.0
            g = _wilkinson_g(Dt[l, j], Dt[l + 1, j], Dt[m, j], Et[l, j])
            St[_S * L + j] = 1.0
            St[_C * L + j] = 1.0
            St[_P * L + j] = 0.0
            St[_G * L + j] = g
            St[_LO * L + j] = l
            St[_HI * L + j] = m
            top = max(top, m - 1)
            bot = min(bot, l)
        if top < 0:
            break
        _ql_sweep_lanes(Dt, Et, St, nl, top, bot)
        for j in range(ng):
            l = int(St[_LO * L + j])
            m = int(St[_HI * L + j])
            if m <= l:
                continue
            if St[_FLAG * L + j] != 0.0:
                ok[j] = -1
                St[_DONE * L + j] = 1.0
                St[_LCUR * L + j] = n - 1
                continue
            Dt[l, j] -= St[_P * L + j]
            Et[l, j] = St[_G * L + j]
            Et[m, j] = 0.0


@njit(**_JIT)
def _sort_ascending(d, n, vectors, Z, tmp):
    """Insertion sort of d (n is small), moving the rows of Z along if vectors."""
    for j in range(1, n):
        x = d[j]
        i = j - 1
        while i >= 0 and d[i] > x:
            i -= 1
        i += 1
        if i == j:
            continue
        for t in range(j, i, -1):
            d[t] = d[t - 1]
        d[i] = x
        if vectors:
            for k in range(n):
                tmp[k] = Z[j, k]
            for t in range(j, i, -1):
                for k in range(n):
                    Z[t, k] = Z[t - 1, k]
            for k in range(n):
                Z[i, k] = tmp[k]


@njit(**_JIT)
def _separated(lam, n, tol):
    for k in range(1, n):
        if lam[k] - lam[k - 1] <= tol:
            return False
    return True


@njit(**_JIT)
def _twisted_vectors(d, e, n, m, lam, Dpiv, Dinv, Rinv, G2, T2, Y):
    """Y[:, k] = the twisted-factorization eigenvector of T for lam[k], for all k at once.

    T - lam I = L D L^T (top-down pivots D_i) = U R U^T (bottom-up pivots R_i); at the twist
    r = argmin_i |gamma_i|, gamma_i = D_i + R_i - (d_i - lam) = D_i - e_i^2 / R_{i+1}, the
    vector with y_r = 1, y_i = -(e_i / D_i) y_{i+1} above r and y_i = -(e_{i-1} / R_i) y_{i-1}
    below r solves (T - lam I) y = gamma_r e_r. Pivots below PIVMIN are raised to -PIVMIN (as in
    a Sturm count). The k loops run over m >= n columns (lam[n:m] any finite padding) so that
    no column is left to a scalar remainder.

    Written for the vector units (benchmarks/spectrum.py's forward_backward rows; on one
    thread this function went from ~17 to ~5 us per n = 45 matrix): every recurrence carries
    its previous row in one 1-D row (G2[0]) and no loop loads or stores under a data-dependent
    mask. The twist and the running minimum of |gamma| are kept by min() and an arithmetic
    blend, and the two halves of the vector by adding recurrences that are exactly 0 outside
    their half (their start row is 0 there), not by selects: LLVM turns a select between a
    new value and the stored one into a masked store, and with masks that vary from matrix
    to matrix those loops ran 3x slower than on one matrix repeated. The products are the
    same, so the vectors are the same bit for bit (up to the sign of zeros).
    G2 (2, m): the carried row and the running minimum; T2 (2, m): the twist, as a float.
    """
    cur = G2[0]
    gmin = G2[1]
    twist = T2[0]
    for k in range(m):
        q = d[0] - lam[k]
        q = q if abs(q) >= PIVMIN else -PIVMIN
        Dpiv[0, k] = q
        r = 1.0 / q
        Dinv[0, k] = r
        cur[k] = r
    for i in range(1, n):
        e2 = e[i - 1] * e[i - 1]
        di = d[i]
        Dc = Dpiv[i]
        Ic = Dinv[i]
        for k in range(m):
            q = (di - lam[k]) - e2 * cur[k]
            q = q if abs(q) >= PIVMIN else -PIVMIN
            Dc[k] = q
            r = 1.0 / q
            Ic[k] = r
            cur[k] = r
    dl = d[n - 1]
    xl = float(n - 1)
    Rl = Rinv[n - 1]
    Dl = Dpiv[n - 1]
    for k in range(m):
        q = dl - lam[k]
        q = q if abs(q) >= PIVMIN else -PIVMIN
        r = 1.0 / q
        Rl[k] = r
        cur[k] = r
        gmin[k] = abs(Dl[k])  # gamma_{n-1} = D_{n-1}
        twist[k] = xl
    for i in range(n - 2, -1, -1):
        e2 = e[i] * e[i]
        di = d[i]
        Rc = Rinv[i]
        Dc = Dpiv[i]
        x = float(i)
        for k in range(m):
            t = e2 * cur[k]
            q = (di - lam[k]) - t
            q = q if abs(q) >= PIVMIN else -PIVMIN
            r = 1.0 / q
            Rc[k] = r
            cur[k] = r
            gam = abs(Dc[k] - t)
            g0 = gmin[k]
            better = 1.0 if gam < g0 else 0.0  # ties keep the lower row, as a strict <
            gmin[k] = min(gam, g0)
            twist[k] += better * (x - twist[k])
    # above the twist and at it: y_i = -(e_i / D_i) y_{i+1} from y_r = 1; below it every row
    # is a product with the zero start, so (+-)0. |1 / D_i| <= 1 / PIVMIN keeps them finite.
    Yl = Y[n - 1]
    for k in range(m):
        y = 1.0 if twist[k] == xl else 0.0
        Yl[k] = y
        cur[k] = y
    for i in range(n - 2, -1, -1):
        ei = e[i]
        Ic = Dinv[i]
        Yc = Y[i]
        x = float(i)
        for k in range(m):
            y = (1.0 if x == twist[k] else 0.0) + (-ei * Ic[k]) * cur[k]
            Yc[k] = y
            cur[k] = y
    # below the twist: z_i = -(e_{i-1} / R_i) z_{i-1} from z_r = 1 (0 above it); z - [i = r]
    # adds the lower half to the rows below r and exactly 0 elsewhere
    for k in range(m):
        cur[k] = 1.0 if twist[k] == 0.0 else 0.0
    for i in range(1, n):
        em = e[i - 1]
        Rc = Rinv[i]
        Yc = Y[i]
        x = float(i)
        for k in range(m):
            at = 1.0 if x == twist[k] else 0.0
            z = at + (-em * Rc[k]) * cur[k]
            cur[k] = z
            Yc[k] = Yc[k] + (z - at)


@njit(**_JIT)
def _column_scales(d, e, n, lam, Y, c, res, rmax):
    """c[k] = 1 / ||Y[:, k]||^2; False if a column is not finite or its residual
    ||T y - lam y|| / ||y|| exceeds rmax."""
    for k in range(n):
        c[k] = 0.0
        res[k] = 0.0
    for i in range(n):
        # neighbours outside the matrix enter with a zero coefficient
        ep = e[i - 1] if i > 0 else 0.0
        en = e[i] if i < n - 1 else 0.0
        di = d[i]
        Yc = Y[i]
        Yp = Y[max(i - 1, 0)]
        Yn = Y[min(i + 1, n - 1)]
        for k in range(n):
            y = Yc[k]
            r = (di - lam[k]) * y + ep * Yp[k] + en * Yn[k]
            c[k] += y * y
            res[k] += r * r
    ok = True
    for k in range(n):
        s = c[k]
        if not (s > 0.0 and s < math.inf and res[k] <= rmax * rmax * s):
            ok = False
        c[k] = 1.0 / s
    return ok


#: Gram-Schmidt within a group may remove at most this much of a unit vector (else QL's path)
MGS_KEEP = 0.5


@njit(**_JIT)
def _orthonormalize_groups(Y, c, lam, n, tol):
    """Modified Gram-Schmidt on the columns of Y within each group of eigenvalues whose
    consecutive gaps are <= tol (columns scaled to unit length first, c[k] = 1 / ||Y[:, k]||^2
    on entry). False if a column keeps less than MGS_KEEP of its length: its twisted vector was
    (nearly) parallel to a neighbour's, so Gram-Schmidt would amplify rounding errors."""
    g0 = 0
    for k in range(n):
        if k > 0 and lam[k] - lam[k - 1] > tol:
            g0 = k
        if g0 == k and (k == n - 1 or lam[k + 1] - lam[k] > tol):
            continue  # isolated
        sk = math.sqrt(c[k])
        for i in range(n):
            Y[i, k] *= sk
        for j in range(g0, k):
            t = 0.0
            for i in range(n):
                t += Y[i, j] * Y[i, k]
            for i in range(n):
                Y[i, k] -= t * Y[i, j]
        nrm = 0.0
        for i in range(n):
            nrm += Y[i, k] * Y[i, k]
        nrm = math.sqrt(nrm)
        if not nrm >= MGS_KEEP:
            return False
        for i in range(n):
            Y[i, k] /= nrm
    return True


@njit(**_JIT)
def _tri_vectors(dS, eS, n, lam, ew, Z, Y, c, Dpiv, Dinv, Rinv, gmin, G2, tmp, lp):
    """Eigenvectors of the scaled tridiagonal (dS, eS) for its eigenvalues lam (ascending, from
    _group_values) as the columns of Y, with c[k] = 1 / ||Y[:, k]||^2. Returns OK or FAILED.
    On the cluster path lam is recomputed by the same QL (the same values, bit for bit)."""
    tnorm = 0.0
    for i in range(n):
        r = abs(dS[i])
        if i > 0:
            r += abs(eS[i - 1])
        if i < n - 1:
            r += abs(eS[i])
        tnorm = max(tnorm, r)
    rmax = RESID_C * n * EPS * tnorm
    # the padding columns: a shift outside the spectrum, so their pivots stay away from 0
    m = min(Y.shape[1], (n + 7) // 8 * 8)
    for k in range(n):
        lp[k] = lam[k]
    for k in range(n, m):
        lp[k] = 2.0 * tnorm + 1.0
    _twisted_vectors(dS, eS, n, m, lp, Dpiv, Dinv, Rinv, G2[0:2], G2[2:4], Y)
    if _column_scales(dS, eS, n, lam, Y, c, gmin, rmax):
        if _separated(lam, n, ORTHO_RTOL * tnorm):
            return OK
        # close eigenvalues: their twisted vectors are accurate but only orthogonal to
        # O(eps ||T|| / gap); Gram-Schmidt within each group, kept only if it changed little
        # and the residuals still pass
        if _orthonormalize_groups(Y, c, lam, n, ORTHO_RTOL * tnorm):
            if _column_scales(dS, eS, n, lam, Y, c, gmin, rmax):
                return OK
    # tight clusters (or a rejected vector): QL's rotations give orthonormal vectors
    for i in range(n):
        lam[i] = dS[i]
        ew[i] = eS[i] if i < n - 1 else 0.0
        for k in range(n):
            Z[i, k] = 1.0 if i == k else 0.0
    if not _ql_implicit(lam, ew, n, True, Z):
        return FAILED
    _sort_ascending(lam, n, True, Z, tmp)
    for i in range(n):
        for k in range(n):
            Y[i, k] = Z[k, i]
    if not _column_scales(dS, eS, n, lam, Y, c, gmin, rmax):
        return FAILED
    return OK


@njit(**_JIT)
def _chunk_bounds(c, nchunks, B):
    return (c * B) // nchunks, ((c + 1) * B) // nchunks


@njit(**_JIT)
def _scratch(n):
    """Per-matrix arrays; those of the twisted vectors padded to a multiple of 8 columns."""
    nn = max(n, 1)
    npad = (nn + 7) // 8 * 8
    return (np.zeros(nn), np.zeros(nn), np.zeros((nn, nn)), np.zeros((nn, npad)), np.zeros(nn),
            np.zeros((nn, npad)), np.zeros((nn, npad)), np.zeros((nn, npad)), np.zeros(nn),
            np.zeros((4, npad)), np.zeros(nn), np.zeros(npad))


@njit(**_JIT)
def _scan(row, n, amax, chk):
    """Running max |x| and a NaN detector (inf * 0 and nan * 0 are nan) over row[:n]."""
    for q in range(n):
        x = np.float64(row[q])
        amax = max(amax, abs(x))
        chk += x * 0.0
    return amax, chk


@njit(**_JIT)
def _group_scratch(n):
    """Per-group arrays: the scaled rows (kept), their eigenvalues, a sort buffer, exponents,
    batch rows, flags, and the lanes' arrays (_lanes_scratch)."""
    nn = max(n, 1)
    return (np.zeros((LANES, nn)), np.zeros((LANES, nn)), np.zeros((LANES, nn)), np.zeros(nn),
            np.zeros(LANES, dtype=np.int64), np.zeros(LANES, dtype=np.int64),
            np.zeros(LANES, dtype=np.int64), _lanes_scratch(n))


@njit(**_JIT)
def _load_lanes(DS, ES, lanes, ng, n):
    """The group's scaled tridiagonals (DS[j], ES[j]), j < ng, into the lanes' Dt, Et."""
    Dt, Et = lanes[0], lanes[1]
    for i in range(n):
        for j in range(ng):
            Dt[i, j] = DS[j, i]
            Et[i, j] = ES[j, i] if i < n - 1 else 0.0


@njit(**_JIT)
def _group_values(DS, ES, Dm, Em, lanes, ng, n, ok, Z):
    """Eigenvalues (ascending) of the group's scaled tridiagonals (DS[j], ES[j]) into Dm[j];
    ok[j] False where QL did not converge. Z (n, n) is scratch. Groups of fewer than
    LANES_MIN matrices take the scalar QL: the lanes' rounds cost as much for one matrix as
    for eight."""
    if ng >= LANES_MIN:
        _load_lanes(DS, ES, lanes, ng, n)
        Dt, Et, Sm, St = lanes
        _ql_values_lanes(Dt, Et, Sm, St, ng, n, ok)
    else:
        for j in range(ng):
            ok[j] = -1
    for j in range(ng):
        lam = Dm[j]
        if ok[j] == -1:
            for i in range(n):
                lam[i] = DS[j, i]
                Em[i] = ES[j, i] if i < n - 1 else 0.0
            ok[j] = 1 if _ql_implicit(lam, Em, n, False, Z) else 0
        else:
            Dt = lanes[0]
            for i in range(n):
                lam[i] = Dt[i, j]
        _sort_ascending(lam, n, False, Z, Em)


@njit(cache=True, nogil=True, error_model="numpy")
def _tri_spectrum_batch(diag, off, weights, gradient, c0, c1, nchunks, vals, gd, ge, suspect):
    B, n = diag.shape
    wrow = weights.shape[0] > 1
    for ch in range(c0, c1):
        b0, b1 = _chunk_bounds(ch, nchunks, B)
        lam, ew, Z, Y, c, Dpiv, Dinv, Rinv, gmin, G2, tmp, lp = _scratch(n)
        DS, ES, Dm, Em, pex, rows, ok, lanes = _group_scratch(n)
        for g0 in range(b0, b1, LANES):
            ng = 0
            for b in range(g0, min(g0 + LANES, b1)):
                amax, chk = _scan(diag[b], n, 0.0, 0.0)
                amax, chk = _scan(off[b], n - 1, amax, chk)
                w = weights[b] if wrow else weights[0]
                if chk != 0.0:
                    suspect[b] = True
                    for i in range(n):
                        vals[b, i] = math.nan
                        if gradient:
                            gd[b, i] = math.nan
                            if i < n - 1:
                                ge[b, i] = math.nan
                    continue
                if amax == 0.0 or n == 1:
                    # nothing to rotate: lam = d (one entry, or the zero matrix), Q = I
                    suspect[b] = False
                    for i in range(n):
                        vals[b, i] = diag[b, i]
                        if gradient:
                            gd[b, i] = w[i]
                            if i < n - 1:
                                ge[b, i] = 0.0
                    continue
                p = _scale_exponent(amax)
                sc = math.ldexp(1.0, -p)
                for i in range(n):
                    DS[ng, i] = np.float64(diag[b, i]) * sc
                for i in range(n - 1):
                    ES[ng, i] = np.float64(off[b, i]) * sc
                pex[ng] = p
                rows[ng] = b
                ng += 1
            _group_values(DS, ES, Dm, Em, lanes, ng, n, ok, Z)
            for j in range(ng):
                b = rows[j]
                lam = Dm[j]
                st = OK if ok[j] else FAILED
                if gradient and ok[j]:
                    st = _tri_vectors(DS[j], ES[j], n, lam, ew, Z, Y, c, Dpiv, Dinv, Rinv, gmin,
                                      G2, tmp, lp)
                suspect[b] = st != OK
                for i in range(n):
                    vals[b, i] = math.ldexp(lam[i], pex[j])
                if gradient:
                    if ok[j]:
                        w = weights[b] if wrow else weights[0]
                        _weighted_tridiagonal(Y, c, w, n, gmin, gd[b], ge[b])
                    else:
                        for i in range(n):
                            gd[b, i] = math.nan
                            if i < n - 1:
                                ge[b, i] = math.nan


@njit(**_JIT_SUM)
def _weighted_tridiagonal(Y, c, w, n, cw, gd, ge):
    """gd_i = sum_k w_k q_ik^2, ge_i = 2 sum_k w_k q_ik q_{i+1,k} with q_k = Y[:, k] sqrt(c_k)."""
    for k in range(n):
        cw[k] = np.float64(w[k]) * c[k]
    for i in range(n):
        s = 0.0
        t = 0.0
        yi = Y[i]
        for k in range(n):
            s += cw[k] * yi[k] * yi[k]
        gd[i] = s
        if i < n - 1:
            yj = Y[i + 1]
            for k in range(n):
                t += cw[k] * yi[k] * yj[k]
            ge[i] = 2.0 * t


# --- dense: Householder reduction, the tridiagonal spectrum, a two-sided back-transformation ---


@njit(**_JIT_SUM)
def _householder(W, n, d, e, tau, p):
    """Reduce symmetric W (n, n) in place to T = H^T W H, H = H_0 ... H_{n-3}.

    H_j = I - tau[j] v v^T acts on indices j+1..n-1; v = (1, W[j, j+2:]) is stored in row j,
    which the later steps do not touch. Each step is a symmetric rank-2 update of the whole
    trailing block (rows are contiguous).
    """
    for j in range(n - 2):
        mm = n - j - 1
        v = W[j, j + 1:]
        d[j] = W[j, j]
        alpha = v[0]
        xn2 = 0.0
        for t in range(1, mm):
            xn2 += v[t] * v[t]
        if xn2 == 0.0:
            tau[j] = 0.0
            e[j] = alpha
            continue
        beta = -math.copysign(math.sqrt(alpha * alpha + xn2), alpha)
        tj = (beta - alpha) / beta
        sv = 1.0 / (alpha - beta)
        v[0] = 1.0
        for t in range(1, mm):
            v[t] *= sv
        tau[j] = tj
        e[j] = beta
        # p = tau W22 v, k = p - (tau/2)(p.v) v, W22 -= v k^T + k v^T
        pv = 0.0
        for i in range(mm):
            wr = W[j + 1 + i, j + 1:]
            s = 0.0
            for t in range(mm):
                s += wr[t] * v[t]
            p[i] = tj * s
            pv += p[i] * v[i]
        kk = -0.5 * tj * pv
        for i in range(mm):
            p[i] += kk * v[i]
        for i in range(mm):
            wr = W[j + 1 + i, j + 1:]
            vi = v[i]
            pi = p[i]
            for t in range(mm):
                wr[t] -= vi * p[t] + pi * v[t]
    if n >= 2:
        d[n - 2] = W[n - 2, n - 2]
        e[n - 2] = W[n - 2, n - 1]
    d[n - 1] = W[n - 1, n - 1]


@njit(**_JIT_SUM)
def _weighted_dense(Y, c, w, n, cw, M):
    """M = sum_k w_k c_k Y[:, k] Y[:, k]^T (the tridiagonal's Q diag(w) Q^T)."""
    for k in range(n):
        cw[k] = np.float64(w[k]) * c[k]
    for i in range(n):
        yi = Y[i]
        for j in range(i + 1):
            yj = Y[j]
            s = 0.0
            for k in range(n):
                s += cw[k] * yi[k] * yj[k]
            M[i, j] = s
            M[j, i] = s


@njit(**_JIT_SUM)
def _two_sided(W, n, tau, M, p):
    """M <- H M H^T with the reflectors stored by _householder (H_j M H_j for j descending)."""
    for j in range(n - 3, -1, -1):
        tj = tau[j]
        if tj == 0.0:
            continue
        lo = j + 1
        mm = n - lo
        v = W[j, lo:]
        # p = tau M v (all rows), k = p - (tau/2)(v.p) v on the support of v
        vp = 0.0
        for a in range(n):
            ma = M[a, lo:]
            s = 0.0
            for t in range(mm):
                s += ma[t] * v[t]
            p[a] = tj * s
        for t in range(mm):
            vp += v[t] * p[lo + t]
        kk = -0.5 * tj * vp
        for t in range(mm):
            p[lo + t] += kk * v[t]
        for a in range(n):
            ma = M[a, lo:]
            pa = p[a]
            for t in range(mm):
                ma[t] -= pa * v[t]
        for t in range(mm):
            ma = M[lo + t]
            vt = v[t]
            for b in range(n):
                ma[b] -= vt * p[b]


@njit(cache=True, nogil=True, error_model="numpy")
def _dense_spectrum_batch(A, weights, gradient, c0, c1, nchunks, vals, G, suspect):
    B = A.shape[0]
    n = A.shape[1]
    wrow = weights.shape[0] > 1
    for ch in range(c0, c1):
        b0, b1 = _chunk_bounds(ch, nchunks, B)
        lam, ew, Z, Y, c, Dpiv, Dinv, Rinv, gmin, G2, tmp, lp = _scratch(n)
        DS, ES, Dm, Em, pex, rows, ok, lanes = _group_scratch(n)
        nn = max(n, 1)
        # each group's reflectors, for the back-transformation
        W = np.zeros((GROUP_DENSE, nn, nn))
        tau = np.zeros((GROUP_DENSE, nn))
        M = np.zeros((nn, nn))
        for g0 in range(b0, b1, GROUP_DENSE):
            ng = 0
            for b in range(g0, min(g0 + GROUP_DENSE, b1)):
                Ab = A[b]
                amax = 0.0
                chk = 0.0
                for q in range(n):
                    amax, chk = _scan(Ab[q], n, amax, chk)
                w = weights[b] if wrow else weights[0]
                if chk != 0.0:
                    suspect[b] = True
                    for i in range(n):
                        vals[b, i] = math.nan
                        if gradient:
                            for j in range(n):
                                G[b, i, j] = math.nan
                    continue
                if amax == 0.0:
                    suspect[b] = False
                    for i in range(n):
                        vals[b, i] = 0.0
                        if gradient:
                            for j in range(n):
                                G[b, i, j] = w[i] if i == j else 0.0
                    continue
                p = _scale_exponent(amax)
                sc = math.ldexp(1.0, -p)
                Wg = W[ng]
                for q in range(n):
                    for t in range(n):
                        Wg[q, t] = np.float64(Ab[q, t]) * sc
                _householder(Wg, n, DS[ng], ES[ng], tau[ng], tmp)
                pex[ng] = p
                rows[ng] = b
                ng += 1
            _group_values(DS, ES, Dm, Em, lanes, ng, n, ok, Z)
            for j in range(ng):
                b = rows[j]
                lam = Dm[j]
                st = OK if ok[j] else FAILED
                if gradient and ok[j]:
                    st = _tri_vectors(DS[j], ES[j], n, lam, ew, Z, Y, c, Dpiv, Dinv, Rinv, gmin,
                                      G2, tmp, lp)
                suspect[b] = st != OK
                for i in range(n):
                    vals[b, i] = math.ldexp(lam[i], pex[j])
                if not gradient:
                    continue
                if not ok[j]:
                    for i in range(n):
                        for t in range(n):
                            G[b, i, t] = math.nan
                    continue
                w = weights[b] if wrow else weights[0]
                _weighted_dense(Y, c, w, n, gmin, M)
                _two_sided(W[j], n, tau[j], M, tmp)
                for i in range(n):
                    for t in range(n):
                        G[b, i, t] = 0.5 * (M[i, t] + M[t, i])
