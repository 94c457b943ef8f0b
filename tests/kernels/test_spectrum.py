"""Full-spectrum kernels: every eigenvalue and the gradient of <w, lam> against LAPACK's eigh.

References: numpy.linalg.eigvalsh / eigh (LAPACK) for values and for Q diag(w) Q^T; where
eigenvalues repeat, the weights are equal inside each cluster, so the gradient does not depend
on the basis and must match eigh's; with unequal weights inside a cluster, basis-independent
properties of any Q diag(w) Q^T with orthonormal eigenvectors Q (spectrum w, commutes with A).
"""

import numba
import numpy as np
import pytest
from kernel_helpers import EPS, random_orthogonal, tridiag_to_dense

from optneuron.kernels import dense_spectrum, tridiagonal_spectrum


def _reference(A, w):
    lam, Q = np.linalg.eigh(A)
    return lam, np.einsum("bik,bk,bjk->bij", Q, np.broadcast_to(w, lam.shape), Q)


def _tri_parts(G):
    return np.diagonal(G, axis1=1, axis2=2), 2.0 * np.diagonal(G, 1, axis1=1, axis2=2)


def _check(A, w, vals, G, scale_tol=64.0):
    """values within c n eps ||A||, gradient within scale_tol n eps ||w||_inf ||A|| / gap."""
    A = np.asarray(A, dtype=np.float64)
    B, n, _ = A.shape
    lam, Gref = _reference(A, w)
    norm = np.maximum(np.abs(lam).max(-1), np.finfo(float).tiny)
    np.testing.assert_array_less(np.abs(vals - lam).max(-1), 4 * n * EPS * norm + 1e-300)
    if G is None:
        return
    wmax = np.abs(np.broadcast_to(w, lam.shape)).max(-1)
    err = np.abs(G - Gref).max((-1, -2))
    assert np.all(err <= scale_tol * n * EPS * np.maximum(wmax, 1e-300)), err / (n * EPS * wmax)


def _separated_tridiagonals(rng, B, n, rgap=None):
    """Random tridiagonals whose eigenvalue gaps all exceed rgap ||T|| (rejection sampling;
    by default rgap = 0.1 / n: random tridiagonals have no level repulsion)."""
    rgap = 0.1 / n if rgap is None else rgap
    d, e = [], []
    while len(d) < B:
        dd, ee = rng.standard_normal(n), rng.standard_normal(n - 1)
        lam = np.linalg.eigvalsh(tridiag_to_dense(dd[None], ee[None]))[0]
        if n == 1 or np.diff(lam).min() > rgap * np.abs(lam).max():
            d.append(dd)
            e.append(ee)
    return np.array(d), np.array(e).reshape(B, n - 1)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 20, 45])
def test_tridiagonal_values_and_gradient_match_eigh(n):
    rng = np.random.default_rng(n)
    d, e = _separated_tridiagonals(rng, 12, n)
    w = rng.standard_normal((12, n))
    vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
    assert not sus.any()
    T = tridiag_to_dense(d, e)
    lam, G = _reference(T, w)
    gd_ref, ge_ref = _tri_parts(G)
    # separated spectra (gaps >= 0.1 ||T|| / n): 1e-12 relative to the weights
    tol = 1e-12 * np.abs(w).max()
    np.testing.assert_allclose(vals, lam, rtol=0, atol=4 * n * EPS * np.abs(lam).max())
    np.testing.assert_allclose(gd, gd_ref, rtol=0, atol=tol)
    np.testing.assert_allclose(ge, ge_ref, rtol=0, atol=tol)
    only, no_gd, no_ge, sus2 = tridiagonal_spectrum(d, e)
    assert no_gd is None and no_ge is None and not sus2.any()
    np.testing.assert_array_equal(only, vals)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 45])
def test_dense_values_and_gradient_match_eigh(n):
    rng = np.random.default_rng(100 + n)
    A = rng.standard_normal((10, n, n))
    A = A + A.transpose(0, 2, 1)
    w = rng.standard_normal(n)  # one weight vector shared by the batch
    vals, G, sus = dense_spectrum(A, w)
    assert not sus.any()
    _check(A, w, vals, G)
    np.testing.assert_array_equal(G, G.transpose(0, 2, 1))
    only, none, _ = dense_spectrum(A)
    assert none is None
    np.testing.assert_array_equal(only, vals)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    n = 6
    d, e = _separated_tridiagonals(rng, 1, n, rgap=0.05)
    w = rng.standard_normal(n)
    _, gd, ge, _ = tridiagonal_spectrum(d, e, w)
    h = 1e-6

    def phi(dd, ee):
        return np.linalg.eigvalsh(tridiag_to_dense(dd, ee))[0] @ w

    for i in range(n):
        dp, dm = d.copy(), d.copy()
        dp[0, i] += h
        dm[0, i] -= h
        assert abs((phi(dp, e) - phi(dm, e)) / (2 * h) - gd[0, i]) < 1e-7
    for i in range(n - 1):
        ep, em = e.copy(), e.copy()
        ep[0, i] += h
        em[0, i] -= h
        assert abs((phi(d, ep) - phi(d, em)) / (2 * h) - ge[0, i]) < 1e-7


def _cluster_weights(lam, rng, rtol=1e-6):
    """Random weights, equal inside each cluster of lam (gaps below rtol ||lam||)."""
    w = rng.standard_normal(lam.shape)
    for b in range(lam.shape[0]):
        tol = rtol * np.abs(lam[b]).max()
        for k in range(1, lam.shape[1]):
            if lam[b, k] - lam[b, k - 1] <= tol:
                w[b, k] = w[b, k - 1]
    return w


def _eightfold(rng, B, n):
    lam = np.ones(n)
    lam[8:] = np.linspace(2.0, 3.0, n - 8)
    A = np.empty((B, n, n))
    for b in range(B):
        Q = random_orthogonal(rng, n)
        A[b] = (Q * lam) @ Q.T
        A[b] = (A[b] + A[b].T) / 2
    return A


def test_dense_eightfold_cluster_with_equal_weights_matches_eigh():
    rng = np.random.default_rng(3)
    A = _eightfold(rng, 8, 14)
    w = _cluster_weights(np.linalg.eigvalsh(A), rng)
    vals, G, sus = dense_spectrum(A, w)
    assert not sus.any()  # clusters are not suspect for a mixture
    _check(A, w, vals, G)


@pytest.mark.parametrize("kind", ["tridiagonal", "dense"])
def test_unequal_weights_in_a_cluster_give_an_orthonormal_basis(kind):
    # any Q diag(w) Q^T with Q orthonormal eigenvectors has spectrum w and commutes with A
    rng = np.random.default_rng(5)
    if kind == "dense":
        A = _eightfold(rng, 6, 12)
    else:
        d = np.tile([1.0, 2.0, 1.0, 3.0, 1.0, 2.0, 1.0], (6, 1)) + 0.0
        e = np.zeros((6, 6))
        e[:, 3] = rng.standard_normal(6) * 1e-9  # nearly split: 1.0 four times, 2.0 twice
        A = tridiag_to_dense(d, e)
    w = rng.standard_normal((A.shape[0], A.shape[1]))
    if kind == "dense":
        vals, G, sus = dense_spectrum(A, w)
    else:
        vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
        # rebuild G's tridiagonal part only: check through the dense kernel on T instead
        _, G, sus_d = dense_spectrum(A, w)
        assert not sus_d.any()
        np.testing.assert_allclose(gd, np.diagonal(G, axis1=1, axis2=2), atol=1e-12)
    assert not sus.any()
    np.testing.assert_allclose(np.linalg.eigvalsh(G), np.sort(w, axis=1), atol=1e-13)
    assert np.abs(A @ G - G @ A).max() < 1e-12 * np.abs(w).max()


def test_tridiagonal_exact_doubles_and_splits_with_equal_weights():
    rng = np.random.default_rng(2)
    bd, be = rng.standard_normal(5), rng.standard_normal(4)
    cases = [
        (np.array([[3.0, 1.0, 2.0, 1.0, 5.0, 2.0]]), np.zeros((1, 5))),  # diagonal, doubles
        (np.concatenate([bd, bd])[None], np.concatenate([be, [0.0], be])[None]),  # split copies
        (np.concatenate([bd, bd + 10.0])[None], np.concatenate([be, [0.0], be])[None]),
    ]
    for d, e in cases:
        T = tridiag_to_dense(d, e)
        w = _cluster_weights(np.linalg.eigvalsh(T), rng)
        vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
        assert not sus.any()
        lam, G = _reference(T, w)
        gd_ref, ge_ref = _tri_parts(G)
        np.testing.assert_allclose(vals, lam, atol=1e-14 * np.abs(lam).max())
        np.testing.assert_allclose(gd, gd_ref, atol=1e-13)
        np.testing.assert_allclose(ge, ge_ref, atol=1e-13)


def test_wilkinson_w21_plus():
    # pairs of eigenvalues agreeing to ~1e-14 (and to 1e-7 further down): equal weights on pairs
    m = 10
    d = np.abs(np.arange(-m, m + 1, dtype=float))[None]
    e = np.ones((1, 2 * m))
    T = tridiag_to_dense(d, e)
    lam = np.linalg.eigvalsh(T)
    w = _cluster_weights(lam, np.random.default_rng(0), rtol=1e-3)
    vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
    assert not sus.any()
    lam_ref, G = _reference(T, w)
    gd_ref, ge_ref = _tri_parts(G)
    np.testing.assert_allclose(vals, lam_ref, atol=4 * 21 * EPS * 11)
    np.testing.assert_allclose(gd, gd_ref, atol=1e-12)
    np.testing.assert_allclose(ge, ge_ref, atol=1e-12)
    valsD, GD, susD = dense_spectrum(T, w)
    assert not susD.any()
    _check(T, w, valsD, GD)


@pytest.mark.parametrize("s", [1e-150, 1e150, 2.0 ** -1000, 1e300])
def test_extreme_scalings(s):
    rng = np.random.default_rng(9)
    d, e = _separated_tridiagonals(rng, 4, 7)
    w = rng.standard_normal((4, 7))
    v1, gd1, ge1, _ = tridiagonal_spectrum(d, e, w)
    vs, gds, ges, sus = tridiagonal_spectrum(d * s, e * s, w)
    assert not sus.any()
    # power-of-two scaling is exact: values scale, the gradient is scale-free
    np.testing.assert_allclose(vs / s, v1, rtol=1e-14, atol=1e-14 * np.abs(v1).max())
    np.testing.assert_allclose(gds, gd1, atol=1e-13)
    np.testing.assert_allclose(ges, ge1, atol=1e-13)
    A = tridiag_to_dense(d, e)
    v2, G2, _ = dense_spectrum(A, w)
    v3, G3, sus3 = dense_spectrum(A * s, w)
    assert not sus3.any()
    np.testing.assert_allclose(v3 / s, v2, rtol=1e-14, atol=1e-14 * np.abs(v2).max())
    np.testing.assert_allclose(G3, G2, atol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_zero_matrix(n):
    w = np.arange(n, dtype=float) - 1.5
    vals, gd, ge, sus = tridiagonal_spectrum(np.zeros((2, n)), np.zeros((2, n - 1)), w)
    assert not sus.any() and not vals.any()
    np.testing.assert_array_equal(gd, np.tile(w, (2, 1)))
    assert ge.shape == (2, n - 1) and not ge.any()
    vals, G, sus = dense_spectrum(np.zeros((2, n, n)), w)
    assert not sus.any() and not vals.any()
    np.testing.assert_array_equal(G, np.tile(np.diag(w), (2, 1, 1)))


def test_float32_is_computed_in_float64_and_rounded():
    rng = np.random.default_rng(4)
    d, e = _separated_tridiagonals(rng, 6, 9)
    d, e = d.astype(np.float32), e.astype(np.float32)
    w = rng.standard_normal(9).astype(np.float32)
    vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
    assert vals.dtype == gd.dtype == ge.dtype == np.float32 and not sus.any()
    v64, gd64, ge64, _ = tridiagonal_spectrum(d.astype(np.float64), e.astype(np.float64),
                                              w.astype(np.float64))
    np.testing.assert_array_equal(vals, v64.astype(np.float32))
    np.testing.assert_array_equal(gd, gd64.astype(np.float32))
    np.testing.assert_array_equal(ge, ge64.astype(np.float32))
    A = tridiag_to_dense(d, e).astype(np.float32)
    valsD, GD, susD = dense_spectrum(A, w)
    assert valsD.dtype == GD.dtype == np.float32 and not susD.any()
    _, Gref = _reference(A.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(GD, Gref, atol=2e-7 * np.abs(w).max())


def test_non_finite_rows_are_suspect_and_alone():
    rng = np.random.default_rng(6)
    d, e = _separated_tridiagonals(rng, 4, 5)
    d[1, 2] = np.nan
    e[2, 0] = np.inf
    w = rng.standard_normal(5)
    vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
    np.testing.assert_array_equal(sus, [False, True, True, False])
    assert np.isnan(vals[1:3]).all() and np.isnan(gd[1:3]).all() and np.isnan(ge[1:3]).all()
    assert np.isfinite(vals[[0, 3]]).all() and np.isfinite(gd[[0, 3]]).all()
    A = tridiag_to_dense(np.nan_to_num(d), e)
    A[1, 0, 0] = np.nan
    A[2] = np.nan_to_num(A[2], posinf=1.0)
    A[2, 3, 4] = -np.inf
    vals, G, sus = dense_spectrum(A, w)
    np.testing.assert_array_equal(sus, [False, True, True, False])
    assert np.isnan(G[1:3]).all() and np.isfinite(G[[0, 3]]).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["tridiagonal", "dense"])
def test_results_do_not_depend_on_batching(kind, threads):
    # several chunks; special rows (zero, nan, a 1e-300 scaling, a cluster) mixed in
    rng = np.random.default_rng(11)
    n, B = 7, 37
    d = rng.standard_normal((B, n))
    e = rng.standard_normal((B, n - 1))
    d[5], e[5] = 0.0, 0.0
    d[7, 3] = np.nan
    d[20] *= 1e-300
    e[20] *= 1e-300
    d[30], e[30] = 1.0, 0.0
    w = rng.standard_normal((B, n))
    T = tridiag_to_dense(d, e)
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        if kind == "tridiagonal":
            whole = tridiagonal_spectrum(d, e, w)
            alone = [tridiagonal_spectrum(d[b:b + 1], e[b:b + 1], w[b]) for b in range(B)]
        else:
            whole = dense_spectrum(T, w)
            alone = [dense_spectrum(T[b:b + 1], w[b]) for b in range(B)]
        for got, parts in zip(whole, zip(*alone)):
            np.testing.assert_array_equal(got, np.concatenate(parts))
    finally:
        numba.set_num_threads(old)


def test_bad_arguments_are_named():
    d, e = np.zeros((2, 3)), np.zeros((2, 2))
    with pytest.raises(ValueError, match="weights must have shape"):
        tridiagonal_spectrum(d, e, np.ones(4))
    with pytest.raises(ValueError, match="weights must have shape"):
        dense_spectrum(np.zeros((2, 3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="weights must be finite"):
        tridiagonal_spectrum(d, e, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(TypeError, match="weights must be real"):
        dense_spectrum(np.zeros((2, 3, 3)), np.ones(3, dtype=complex))
    with pytest.raises(TypeError, match="diag must be float32 or float64"):
        tridiagonal_spectrum(d.astype(int), e.astype(int))
    with pytest.raises(TypeError, match="off must have the dtype"):
        tridiagonal_spectrum(d, e.astype(np.float32))
    with pytest.raises(ValueError, match="off must have shape"):
        tridiagonal_spectrum(d, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="A must have shape"):
        dense_spectrum(np.zeros((2, 3, 4)))


def test_empty_batches():
    vals, gd, ge, sus = tridiagonal_spectrum(np.zeros((0, 4)), np.zeros((0, 3)), np.ones(4))
    assert vals.shape == gd.shape == (0, 4) and ge.shape == (0, 3) and sus.shape == (0,)
    vals, G, sus = dense_spectrum(np.zeros((0, 3, 3)), np.ones(3))
    assert vals.shape == (0, 3) and G.shape == (0, 3, 3)


def _weakly_coupled_copies(rng, m, coupling):
    """Two copies of a random block joined by a tiny off-diagonal: pairs of eigenvalues
    ~coupling apart (close, not repeated)."""
    bd, be = rng.standard_normal(m), rng.standard_normal(m - 1)
    d = np.concatenate([bd, bd])[None]
    e = np.concatenate([be, [coupling], be])[None]
    return d, e


@pytest.mark.parametrize("coupling", [1e-4, 1e-6])
def test_close_pairs_take_twisted_vectors_with_gram_schmidt(coupling):
    from optneuron.kernels import _spectrum as K

    rng = np.random.default_rng(8)
    d, e = _weakly_coupled_copies(rng, 6, coupling)
    n = d.shape[1]
    T = tridiag_to_dense(d, e)
    lam = np.linalg.eigvalsh(T)[0]
    gaps = np.diff(lam)
    assert gaps.min() < K.ORTHO_RTOL * np.abs(lam).max() / 10  # the pairs count as groups
    # the path itself: accurate twisted vectors, a small Gram-Schmidt correction, accepted
    Y = np.zeros((n, n))
    work = [np.zeros((n, n)) for _ in range(3)]
    c, res = np.zeros(n), np.zeros(n)
    K._twisted_vectors(d[0], e[0], n, n, lam, work[0], work[1], work[2], np.zeros((2, n)),
                       np.zeros((2, n)), Y)
    tnorm = np.abs(T[0]).sum(1).max()
    rmax = K.RESID_C * n * EPS * tnorm
    assert K._column_scales(d[0], e[0], n, lam, Y, c, res, rmax)
    assert K._orthonormalize_groups(Y, c, lam, n, K.ORTHO_RTOL * tnorm)
    np.testing.assert_allclose(Y.T @ Y, np.eye(n), atol=1e-14)
    # and through the front end: equal weights on each pair match eigh's projectors
    w = _cluster_weights(lam[None], rng, rtol=1e-3)
    vals, gd, ge, sus = tridiagonal_spectrum(d, e, w)
    assert not sus.any()
    _, G = _reference(T, w)
    gd_ref, ge_ref = _tri_parts(G)
    np.testing.assert_allclose(gd, gd_ref, atol=1e-13)
    np.testing.assert_allclose(ge, ge_ref, atol=1e-13)
    # unequal weights: still Q diag(w) Q^T with orthonormal eigenvectors (spectrum w)
    w = rng.standard_normal((1, n))
    _, G2, sus2 = dense_spectrum(T, w)
    assert not sus2.any()
    np.testing.assert_allclose(np.linalg.eigvalsh(G2), np.sort(w, axis=1), atol=1e-13)
    assert np.abs(T @ G2 - G2 @ T).max() < 1e-12


def _lane_values(K, d, e):
    """Eigenvalues of scaled tridiagonals (rows of d, e) through _group_values (the lanes),
    one group of at most LANES rows at a time; returns (values, ok flags seen by the lanes)."""
    B, n = d.shape
    DS, ES, Dm, Em, _, _, ok, lanes = K._group_scratch(n)
    Z = np.zeros((n, n))
    vals, flags = np.zeros((B, n)), np.zeros(B, dtype=np.int64)
    for g0 in range(0, B, K.LANES):
        ng = min(K.LANES, B - g0)
        DS[:ng], ES[:ng, : n - 1] = d[g0:g0 + ng], e[g0:g0 + ng]
        K._load_lanes(DS, ES, lanes, ng, n)
        K._ql_values_lanes(*lanes, ng, n, ok)
        flags[g0:g0 + ng] = ok[:ng]
        K._group_values(DS, ES, Dm, Em, lanes, ng, n, ok, Z)
        vals[g0:g0 + ng] = Dm[:ng]
    return vals, flags


@pytest.mark.parametrize("n", [1, 2, 5, 45])
def test_lanes_ql_matches_scalar_ql_bit_for_bit(n):
    # the lanes run _ql_implicit's operations side by side: the values must be its values,
    # exactly, for lanes that deflate, split and converge at different rounds; mixed in: a
    # partial last group, exact splits, exact doubles, blocks of 1e-150 next to O(1) entries
    # (rotations with r^2 <= 1e-280, which the lanes hand back to _ql_implicit)
    from optneuron.kernels import _spectrum as K

    rng = np.random.default_rng(n + 100)
    B = 2 * K.LANES + 3
    d = rng.uniform(-1, 1, (B, n))
    e = rng.uniform(-1, 1, (B, max(n - 1, 0)))
    if n > 2:
        e[1, n // 2] = 0.0
        d[2], e[2] = 0.5, 0.0
        d[3, 1:], e[3, 1:] = 1e-150 * d[3, 1:], 1e-150 * e[3, 1:]
        e[3, 0] = 1e-150
        e[4] *= 1e-9
    vals, flags = _lane_values(K, d, e)
    ref = np.zeros((B, n))
    for b in range(B):
        lam, ee = d[b].copy(), np.append(e[b], 0.0)
        assert K._ql_implicit(lam, ee, n, False, np.zeros((n, n)))
        ref[b] = np.sort(lam)
    np.testing.assert_array_equal(vals, ref)
    assert (flags >= 0).all() if n <= 2 else flags[3] == -1
    T = tridiag_to_dense(d, e)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(T), rtol=0, atol=8 * n * EPS)


def _twisted_reference(d, e, lam, pivmin):
    """One column of _twisted_vectors in plain Python floats: the same operations in the
    same order (so the same bits), one eigenvalue at a time, with branches."""
    n = len(d)

    def clamp(q):
        return q if abs(q) >= pivmin else -pivmin

    D, Dinv, Rinv = [0.0] * n, [0.0] * n, [0.0] * n
    D[0] = clamp(d[0] - lam)
    Dinv[0] = 1.0 / D[0]
    for i in range(1, n):
        D[i] = clamp((d[i] - lam) - (e[i - 1] * e[i - 1]) * Dinv[i - 1])
        Dinv[i] = 1.0 / D[i]
    Rinv[n - 1] = 1.0 / clamp(d[n - 1] - lam)
    gmin, r = abs(D[n - 1]), n - 1
    for i in range(n - 2, -1, -1):
        t = (e[i] * e[i]) * Rinv[i + 1]
        Rinv[i] = 1.0 / clamp((d[i] - lam) - t)
        if abs(D[i] - t) < gmin:
            gmin, r = abs(D[i] - t), i
    y = [0.0] * n
    y[r] = 1.0
    for i in range(r - 1, -1, -1):
        y[i] = -e[i] * Dinv[i] * y[i + 1]
    for i in range(r + 1, n):
        y[i] = -e[i - 1] * Rinv[i] * y[i - 1]
    return y


@pytest.mark.parametrize("n", [1, 2, 7, 45])
def test_twisted_vectors_match_a_scalar_reference_bit_for_bit(n):
    # the vectorized kernel avoids selects and masked stores (see its docstring); what it
    # computes must still be the textbook recurrence, column by column, exactly: for the
    # eigenvalues, for shifts that hit a pivot exactly (clamped to -PIVMIN), for repeated
    # shifts, and for the padding columns
    from optneuron.kernels import _spectrum as K

    rng = np.random.default_rng(n)
    for trial in range(4):
        d = rng.uniform(-1, 1, n)
        e = rng.uniform(-1, 1, max(n - 1, 0)) * (1e-6 if trial == 3 else 1.0)
        lam = np.linalg.eigvalsh(tridiag_to_dense(d[None], e[None])[0])
        shifts = np.concatenate([lam, [d[0], d[-1], lam[0], 3.0]])
        m = (len(shifts) + 7) // 8 * 8
        lp = np.concatenate([shifts, np.full(m - len(shifts), 2.5)])
        work = [np.zeros((n, m)) for _ in range(4)]
        K._twisted_vectors(d, np.append(e, 0.0), n, m, lp, work[0], work[1], work[2],
                           np.zeros((2, m)), np.zeros((2, m)), work[3])
        for k in range(m):
            ref = _twisted_reference(list(d), list(e), float(lp[k]), K.PIVMIN)
            np.testing.assert_array_equal(work[3][:, k], ref, err_msg=f"column {k}")
