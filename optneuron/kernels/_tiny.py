"""All numba code of the tiny dense kernels (n <= TINY_MAX_N), self-contained on purpose.

numba caches per source file (see _compiled.py): nothing here calls into another file, so an
edit elsewhere never leaves a stale copy of a helper in this file's cache.

Method: cyclic Jacobi on LANES matrices at once. The matrices of a block are stored
transposed, ``a[i, j, l]`` for lane ``l``, so every rotation is a loop over lanes that LLVM
vectorizes (the rotation of one 4x4 matrix alone is a chain of ~10 dependent operations).
Each lane rotates only while its own off-diagonal entries exceed its own threshold; a lane
that skips a rotation applies the exact identity (t = 0, so c = 1 and s = 0, and the pivot
is kept by a select), so a matrix's result never depends on the other matrices of its block,
hence not on the batch split or the thread count.
"""

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")

EPS = 2.220446049250313e-16
#: largest matrix size served. Jacobi's O(n^3) per sweep and its sweep count grow with n: the
#: backends already prefer the Householder kernels of _compiled.py above tiny.JACOBI_MAX_N, and
#: the estimators' fused pencil (which has no Householder counterpart) stops here
TINY_MAX_N = 8
#: matrices iterated together (one vectorized loop per rotation). A rotation's tangent and
#: cosine are a chain of two roots and two divisions, and each rotation waits for the one
#: before; more lanes give the vector units more independent chains. ``python -m
#: benchmarks.pencil_kernel`` (LAPACK / ours, one thread), two runs each on 2026-12-03:
#: n = 4 5.5-6.9x at 64 lanes against 4.9-5.4x at 16; n = 8 1.9-2.4x against 1.9-2.1x
LANES = 64
#: Jacobi converges quadratically: n <= 8 needs <= 10 sweeps; more means no convergence
MAX_SWEEPS = 40
#: a rotation is skipped when |a_pq| <= SKIP * eps * ||A||_F (scaled): the dropped entries
#: perturb the eigenvalues by at most n * SKIP * eps * ||A||_F
SKIP = 0.25
#: eigenvalues closer than this (relative to ||A||) count as a cluster -> suspect
CLUSTER_RTOL = 1e-8
#: residual ||Aq - lam q|| above RESID_C * n * eps * ||A||_inf -> suspect
RESID_C = 16.0


@njit(**_JIT)
def scale_exponent(amax):
    """Exponent p such that amax * 2**-p lies in [0.5, 1); clamped so 2**-p stays finite."""
    _, p = math.frexp(amax)
    if p < -1020:
        p = -1020
    return p


@njit(**_JIT)
def lanes_scale(a, n, L, tol, pexp, finite, w1, w2):
    """Scale each lane of a by a power of two (exact) to max |a_ij| in [0.5, 1) and set its
    rotation threshold and exponent; a lane with a non-finite entry is zeroed, finite False."""
    for l in range(L):
        w1[l] = 0.0
        w2[l] = 0.0
    for i in range(n):
        for j in range(n):
            row = a[i, j]
            for l in range(L):
                x = row[l]
                w1[l] = max(w1[l], abs(x))
                w2[l] += x * 0.0  # inf * 0 and nan * 0 are nan
    for l in range(L):
        finite[l] = w2[l] == 0.0
        p = scale_exponent(w1[l]) if finite[l] and w1[l] > 0.0 else 0
        pexp[l] = p
        w1[l] = math.ldexp(1.0, -p) if finite[l] else 0.0
        w2[l] = 0.0
    for i in range(n):
        for j in range(n):
            row = a[i, j]
            for l in range(L):
                x = row[l] * w1[l] if finite[l] else 0.0
                row[l] = x
                w2[l] += x * x
    for l in range(L):
        tol[l] = SKIP * EPS * math.sqrt(w2[l]) if finite[l] else 1.0


@njit(**_JIT)
def jacobi_lanes(a, v, n, L, tol, t, c, s):
    """Diagonalize the symmetric a[:, :, l] (l < L) by cyclic Jacobi rotations, accumulated in
    v (which starts as the identity). Returns the sweeps used; MAX_SWEEPS + 1 if some lane did
    not converge."""
    for sweep in range(MAX_SWEEPS):
        rotated = 0
        for p in range(n - 1):
            for q in range(p + 1, n):
                app = a[p, p]
                aqq = a[q, q]
                apq = a[p, q]
                nrot = 0
                for l in range(L):
                    nrot += abs(apq[l]) > tol[l]
                if nrot == 0:  # cheap test first: late sweeps skip most pairs in every lane
                    continue
                for l in range(L):
                    x = apq[l]
                    big = abs(x) > tol[l]
                    # t = tan of the rotation angle, sgn(d) e / (|d| + hypot(d, e)) with
                    # d = a_qq - a_pp, e = 2 a_pq: one division and one root fewer than the
                    # textbook theta = d / e form; no overflow for entries scaled to <= 1
                    d = aqq[l] - app[l]
                    e = 2.0 * x if big else 0.0
                    tt = e / (abs(d) + math.sqrt(d * d + e * e) + (0.0 if big else 1.0))
                    tt = -tt if d < 0.0 else tt
                    cc = 1.0 / math.sqrt(tt * tt + 1.0)
                    t[l] = tt
                    c[l] = cc
                    s[l] = tt * cc
                rotated += nrot
                for l in range(L):
                    tau = t[l] * apq[l]
                    app[l] -= tau
                    aqq[l] += tau
                    apq[l] = apq[l] if t[l] == 0.0 else 0.0
                    a[q, p, l] = apq[l]
                for r in range(n):
                    if r == p or r == q:
                        continue
                    arp = a[r, p]
                    arq = a[r, q]
                    apr = a[p, r]
                    aqr = a[q, r]
                    for l in range(L):
                        x = arp[l]
                        y = arq[l]
                        nx = c[l] * x - s[l] * y
                        ny = s[l] * x + c[l] * y
                        arp[l] = nx
                        arq[l] = ny
                        apr[l] = nx
                        aqr[l] = ny
                for r in range(n):
                    vrp = v[r, p]
                    vrq = v[r, q]
                    for l in range(L):
                        x = vrp[l]
                        y = vrq[l]
                        vrp[l] = c[l] * x - s[l] * y
                        vrq[l] = s[l] * x + c[l] * y
        if rotated == 0:
            return sweep + 1
    return MAX_SWEEPS + 1


@njit(**_JIT)
def reset_identity(v, n, L):
    for i in range(n):
        for j in range(n):
            val = 1.0 if i == j else 0.0
            for l in range(L):
                v[i, j, l] = val


@njit(**_JIT)
def lane_order(a, n, l, order, lam):
    """Eigenvalues of lane l (the diagonal of a) ascending in lam, their columns in order."""
    for i in range(n):
        x = a[i, i, l]
        j = i
        while j > 0 and lam[j - 1] > x:
            lam[j] = lam[j - 1]
            order[j] = order[j - 1]
            j -= 1
        lam[j] = x
        order[j] = i


@njit(**_JIT)
def clustered(lam, n, lo, hi):
    """Whether an eigenvalue of lo..hi-1 lies within CLUSTER_RTOL ||A|| of another one (of the
    range or its neighbours lam_{lo-1}, lam_hi); lam is scaled, ||A|| = max |lam|."""
    norm = max(abs(lam[0]), abs(lam[n - 1]))
    tolc = CLUSTER_RTOL * norm
    for j in range(max(lo, 1), min(hi + 1, n)):
        if lam[j] - lam[j - 1] <= tolc:
            return True
    return False


@njit(**_JIT)
def lane_vector(v, n, l, col, z):
    """Column col of lane l's accumulated rotations, sign-fixed: the largest-magnitude
    component positive (the first one on exact ties)."""
    imax = 0
    vmax = -1.0
    for i in range(n):
        z[i] = v[i, col, l]
        if abs(z[i]) > vmax:
            vmax = abs(z[i])
            imax = i
    if z[imax] < 0.0:
        for i in range(n):
            z[i] = -z[i]


@njit(**_JIT)
def residual_ok(a0, n, l, lam, z):
    """||A q - lam q||_2 <= RESID_C n eps ||A||_inf for the (scaled) original a0 of lane l."""
    anorm = 0.0
    res = 0.0
    for i in range(n):
        r = -lam * z[i]
        row = 0.0
        for j in range(n):
            r += a0[i, j, l] * z[j]
            row += abs(a0[i, j, l])
        anorm = max(anorm, row)
        res += r * r
    return math.sqrt(res) <= RESID_C * n * EPS * anorm


@njit(**_JIT)
def block_scratch(n):
    a = np.empty((n, n, LANES))
    a0 = np.empty((n, n, LANES))
    v = np.empty((n, n, LANES))
    return a, a0, v, np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES)


@njit(**_JIT)
def chunk_bounds(c, nchunks, B):
    return (c * B) // nchunks, ((c + 1) * B) // nchunks


@njit(**_JIT)
def solve_lanes(a, a0, v, n, L, tol, t, c, s, pexp, finite):
    """Scale lanes 0..L-1 of a (loaded), keep a copy in a0, diagonalize. Returns whether every
    lane converged."""
    lanes_scale(a, n, L, tol, pexp, finite, t, c)
    for i in range(n):
        for j in range(n):
            for l in range(L):
                a0[i, j, l] = a[i, j, l]
    reset_identity(v, n, L)
    return jacobi_lanes(a, v, n, L, tol, t, c, s) <= MAX_SWEEPS


@njit(**_JIT)
def _tiny_batch(A, lo, hi, vectors, c0, c1, nchunks, vals, vecs, suspect):
    """Eigenpairs lo..hi-1 of the dense symmetric A[b] (b in this call's chunks); see tiny.py.
    Returns how many of these matrices it flagged in suspect."""
    B = A.shape[0]
    n = A.shape[1]
    m = hi - lo
    flagged = 0
    a, a0, v, tol, t, c, s = block_scratch(n)
    pexp = np.zeros(LANES, dtype=np.int64)
    finite = np.zeros(LANES, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    lam = np.empty(n)
    z = np.empty(n)
    for ch in range(c0, c1):
        b0, b1 = chunk_bounds(ch, nchunks, B)
        for s0 in range(b0, b1, LANES):
            L = min(LANES, b1 - s0)
            for l in range(L):
                Ab = A[s0 + l]
                for i in range(n):
                    for j in range(n):
                        a[i, j, l] = np.float64(Ab[i, j])
            ok = solve_lanes(a, a0, v, n, L, tol, t, c, s, pexp, finite)
            for l in range(L):
                b = s0 + l
                lane_order(a, n, l, order, lam)
                bad = not ok or not finite[l] or clustered(lam, n, lo, hi)
                for j in range(m):
                    lane_vector(v, n, l, order[lo + j], z)
                    if not residual_ok(a0, n, l, lam[lo + j], z):
                        bad = True
                    vals[b, j] = math.ldexp(lam[lo + j], pexp[l]) if finite[l] else math.nan
                    if vectors:
                        for i in range(n):
                            vecs[b, i, j] = z[i] if finite[l] else math.nan
                suspect[b] = bad
                flagged += bad
    return flagged


@njit(**_JIT)
def lanes_select(a, n, L, k, sel, lam, w1):
    """Per lane: the position sel of the k-th smallest diagonal entry (ties by position) and its
    value lam; w1 counts."""
    for i in range(n):
        di = a[i, i]
        for l in range(L):
            w1[l] = 0.0
        for j in range(n):
            dj = a[j, j]
            before = j < i
            for l in range(L):
                w1[l] += (dj[l] < di[l]) or (before and dj[l] == di[l])
        for l in range(L):
            if w1[l] == k:
                sel[l] = i
                lam[l] = di[l]


@njit(**_JIT)
def lanes_clustered(a, n, L, sel, lam, bad, w1, w2):
    """bad[l] |= another eigenvalue of lane l lies within CLUSTER_RTOL ||A|| of lam[l]."""
    for l in range(L):
        w1[l] = 0.0  # ||A|| = max |lam_j|
        w2[l] = math.inf  # nearest other eigenvalue
    for j in range(n):
        dj = a[j, j]
        for l in range(L):
            w1[l] = max(w1[l], abs(dj[l]))
            gap = abs(dj[l] - lam[l]) if j != sel[l] else math.inf
            w2[l] = min(w2[l], gap)
    for l in range(L):
        bad[l] |= w2[l] <= CLUSTER_RTOL * w1[l]


@njit(**_JIT)
def lanes_vector(v, n, L, sel, z, w1, w2):
    """z[:, l] = column sel[l] of lane l's rotations, sign-fixed (largest-magnitude component
    positive, the first one on exact ties)."""
    for l in range(L):
        w1[l] = -1.0
        w2[l] = 1.0
    for i in range(n):
        for l in range(L):
            x = v[i, sel[l], l]
            z[i, l] = x
            big = abs(x) > w1[l]
            w1[l] = abs(x) if big else w1[l]
            w2[l] = (-1.0 if x < 0.0 else 1.0) if big else w2[l]
    for i in range(n):
        for l in range(L):
            z[i, l] *= w2[l]


@njit(**_JIT)
def lanes_residual(a0, n, L, lam, z, bad, w1, w2, w3, row):
    """bad[l] |= ||A q - lam q||_2 > RESID_C n eps ||A||_inf for lane l's scaled original."""
    for l in range(L):
        w2[l] = 0.0  # residual^2
        w3[l] = 0.0  # ||A||_inf
    for i in range(n):
        for l in range(L):
            w1[l] = -lam[l] * z[i, l]
            row[l] = 0.0
        for j in range(n):
            aij = a0[i, j]
            zj = z[j]
            for l in range(L):
                w1[l] += aij[l] * zj[l]
                row[l] += abs(aij[l])
        for l in range(L):
            w2[l] += w1[l] * w1[l]
            w3[l] = max(w3[l], row[l])
    for l in range(L):
        bad[l] |= math.sqrt(w2[l]) > RESID_C * n * EPS * w3[l]


@njit(**_JIT)
def _pencil_batch(C, index, scale, n, k, c0, c1, nchunks, vals, grads, suspect):
    """lam_k of the dense symmetric matrices with coordinates C[b] (entry (i, j) is
    C[b, index[i n + j]] * scale[index[i n + j]], zero where index = size) and its gradient
    grads[b] = d lam_k / d C[b] (sum over the entries of a coordinate of scale q_i q_j).
    Every step runs across the lanes of a block. Returns how many matrices it flagged in
    suspect."""
    B, size = C.shape
    flagged = 0
    a, a0, v, tol, t, c, s = block_scratch(n)
    pexp = np.zeros(LANES, dtype=np.int64)
    finite = np.zeros(LANES, dtype=np.bool_)
    bad = np.zeros(LANES, dtype=np.bool_)
    sel = np.zeros(LANES, dtype=np.int64)
    lam = np.empty(LANES)
    w3 = np.empty(LANES)
    z = np.empty((n, LANES))
    for ch in range(c0, c1):
        b0, b1 = chunk_bounds(ch, nchunks, B)
        for s0 in range(b0, b1, LANES):
            L = min(LANES, b1 - s0)
            for i in range(n):
                for j in range(n):
                    ix = index[i * n + j]
                    row = a[i, j]
                    if ix < size:
                        sc = scale[ix]
                        for l in range(L):
                            row[l] = C[s0 + l, ix] * sc
                    else:
                        for l in range(L):
                            row[l] = 0.0
            ok = solve_lanes(a, a0, v, n, L, tol, t, c, s, pexp, finite)
            lanes_select(a, n, L, k, sel, lam, t)
            for l in range(L):
                bad[l] = not ok or not finite[l]
            lanes_clustered(a, n, L, sel, lam, bad, t, c)
            lanes_vector(v, n, L, sel, z, t, c)
            lanes_residual(a0, n, L, lam, z, bad, t, c, w3, s)
            for l in range(L):
                b = s0 + l
                suspect[b] = bad[l]
                flagged += bad[l]
                vals[b] = math.ldexp(lam[l], pexp[l]) if finite[l] else math.nan
                g = grads[b]
                for ix in range(size):
                    g[ix] = 0.0
            for i in range(n):
                zi = z[i]
                for j in range(n):
                    ix = index[i * n + j]
                    if ix < size:
                        sc = scale[ix]
                        zj = z[j]
                        for l in range(L):
                            grads[s0 + l, ix] += sc * zi[l] * zj[l]
    return flagged


# --- the estimators' readout network around _pencil_batch (optneuron/fused.py) ---------------
# f(z) = W lam(z) + c + V z, lam_h = lam_k(diag(mu^h) + sum_f z_f A_f^h): the coordinates in,
# the readout out, and every parameter's gradient, each one compiled loop nest instead of ~10
# numpy calls (python -m benchmarks.estimator_step times them inside the training step).


@njit(**_JIT)
def softplus_offset(bias, mu, slope):
    """mu_0 = bias_0, mu_j = bias_0 + sum_{1<=i<=j} softplus(bias_i) (torch's softplus: x
    itself above 20), and slope = d mu_j / d bias_j, per row of bias (m, n)."""
    m, n = bias.shape
    for h in range(m):
        b0 = bias[h, 0]
        mu[h, 0] = b0
        slope[h, 0] = 1.0
        acc = 0.0
        for j in range(1, n):
            x = bias[h, j]
            if x > 20.0:
                acc += x
                slope[h, j] = 1.0
            else:
                acc += math.log1p(math.exp(x))
                slope[h, j] = 1.0 / (1.0 + math.exp(-x))
            mu[h, j] = b0 + acc


@njit(**_JIT)
def readout_coordinates(z, mu, weight, C):
    """C[b m + h, c] = sum_f z[b, f] weight[h, f, c] + (mu[h, c] for the diagonal, c < n)."""
    B, d = z.shape
    m, n = mu.shape
    size = weight.shape[2]
    for b in range(B):
        for h in range(m):
            row = C[b * m + h]
            for c in range(size):
                row[c] = 0.0
            for f in range(d):
                zf = z[b, f]
                w = weight[h, f]
                for c in range(size):
                    row[c] += zf * w[c]
            for c in range(n):
                row[c] += mu[h, c]


@njit(**_JIT)
def readout_output(vals, z, out_weight, out_bias, skip_weight, out):
    """out[b, o] = sum_h W[o, h] lam[b m + h] + c[o] + sum_f V[o, f] z[b, f]."""
    B, d = z.shape
    n_out, m = out_weight.shape
    for b in range(B):
        for o in range(n_out):
            s = out_bias[o]
            for h in range(m):
                s += out_weight[o, h] * vals[b * m + h]
            for f in range(d):
                s += skip_weight[o, f] * z[b, f]
            out[b, o] = s


@njit(**_JIT)
def readout_gradients(g, z, vals, grads, out_weight, slope, weight, flat, g_z):
    """The gradients of sum_b g[b] . f(z_b), written into flat in the parameters' order
    (bias (m, n), weight (m, d, size), W (o, m), c (o,), V (o, d)); when g_z (B, d) has rows,
    the input gradient's part through the eigenvalues is added to it (the caller puts g V
    there). g_C[b, h] = (g W)[b, h] grads[b m + h] (grads: d lam / d C); d/d weight[h, f] =
    sum_b z[b, f] g_C[b, h]; d/d bias_j = slope_j sum_{i>=j} (sum_b g_C[b, h])_i."""
    B, d = z.shape
    n_out, m = out_weight.shape
    size = grads.shape[1]
    n = slope.shape[1]
    o_weight = m * n
    o_w = o_weight + m * d * size
    o_c = o_w + n_out * m
    o_v = o_c + n_out
    for i in range(o_v + n_out * d):
        flat[i] = 0.0
    gdiag = np.zeros(n)
    for h in range(m):
        for i in range(n):
            gdiag[i] = 0.0
        for b in range(B):
            gl = 0.0
            for o in range(n_out):
                gl += g[b, o] * out_weight[o, h]
            row = grads[b * m + h]
            for f in range(d):
                zf = z[b, f] * gl
                base = o_weight + (h * d + f) * size
                for c in range(size):
                    flat[base + c] += zf * row[c]
            for i in range(n):
                gdiag[i] += gl * row[i]
            if g_z.shape[0] > 0:
                for f in range(d):
                    w = weight[h, f]
                    s = 0.0
                    for c in range(size):
                        s += w[c] * row[c]
                    g_z[b, f] += gl * s
        acc = 0.0
        for j in range(n - 1, -1, -1):
            acc += gdiag[j]
            flat[h * n + j] = acc * slope[h, j]
    for b in range(B):
        for o in range(n_out):
            go = g[b, o]
            for h in range(m):
                flat[o_w + o * m + h] += go * vals[b * m + h]
            flat[o_c + o] += go
            for f in range(d):
                flat[o_v + o * d + f] += go * z[b, f]
