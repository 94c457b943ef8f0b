"""EigenvalueMixture ⟨w, λ(A)⟩: values and gradients against numpy's eigh, the SDP backend,
and the named errors (issue 16)."""

import numpy as np
import pytest
import torch

from optneuron import OptLayer
from optneuron.matrices import SymTridiagonal
from optneuron.problems import EigenvalueMixture, KyFan, SphereQP


def _sym(B, n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(B, n, n, generator=g, dtype=torch.float64)
    return ((A + A.mT) / 2).to(dtype)


def _reference(A: torch.Tensor, w: torch.Tensor):
    """numpy (LAPACK) value, ∂/∂A = Q diag(w) Qᵀ and ∂/∂w = λ, in float64."""
    mu, Q = np.linalg.eigh(A.detach().double().numpy())
    wn = np.broadcast_to(w.detach().double().numpy(), mu.shape)
    return (mu * wn).sum(-1), (Q * wn[:, None, :]) @ Q.transpose(0, 2, 1), mu


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / max(1.0, np.abs(b).max())


@pytest.mark.parametrize("method", ["kernel", "lapack"])
@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_dense_value_and_gradients_match_eigh(method, n):
    A = _sym(5, n, seed=n).requires_grad_()
    w = torch.randn(5, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w.requires_grad_()
    value = OptLayer(EigenvalueMixture(), method=method)(A, w).value
    gA, gw = torch.autograd.grad(value.sum(), (A, w))
    ref, ref_gA, mu = _reference(A, w)
    assert _rel(value.detach(), ref) < 1e-10
    assert _rel(gA, ref_gA) < 1e-10
    assert _rel(gw, mu) < 1e-10


@pytest.mark.parametrize("method", ["kernel", "lapack"])
def test_tridiagonal_gradients_match_eigh(method):
    g = torch.Generator().manual_seed(3)
    n = 9
    d = torch.randn(6, n, generator=g, dtype=torch.float64, requires_grad=True)
    e = torch.randn(6, n - 1, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    value = OptLayer(EigenvalueMixture(), method=method)(SymTridiagonal(d, e), w).value
    grads = torch.autograd.grad(value.sum(), (d, e, w))
    T = SymTridiagonal(d, e).to_dense()
    ref, ref_gA, mu = _reference(T, w)
    assert _rel(value.detach(), ref) < 1e-10
    assert _rel(grads[0], np.diagonal(ref_gA, axis1=1, axis2=2)) < 1e-10
    assert _rel(grads[1], 2 * np.diagonal(ref_gA, 1, axis1=1, axis2=2)) < 1e-10
    assert _rel(grads[2], mu.sum(0)) < 1e-10


def test_repeated_eigenvalues_with_constant_weights_on_the_cluster():
    """At a repeated eigenvalue Q diag(w) Qᵀ is basis-independent when w is constant on the
    cluster: the gradient then equals LAPACK's whatever basis the kernel picked."""
    g = torch.Generator().manual_seed(4)
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    mu = torch.tensor([-2.0, 1.0, 1.0, 1.0, 1.0 + 1e-9, 3.0, 3.0, 5.0], dtype=torch.float64)
    A = ((Q * mu) @ Q.T).unsqueeze(0).requires_grad_()
    w = torch.tensor([0.3, 0.7, 0.7, 0.7, 0.7, -1.0, -1.0, 2.0], dtype=torch.float64)
    for method in ("kernel", "lapack"):
        value = OptLayer(EigenvalueMixture(), method=method)(A, w).value
        (gA,) = torch.autograd.grad(value.sum(), A)
        ref, ref_gA, _ = _reference(A, w)
        assert _rel(value.detach(), ref) < 1e-10
        assert _rel(gA, ref_gA) < 1e-8  # the 1e-9 split is inside the cluster


def test_gradcheck_dense_and_tridiagonal():
    A = _sym(2, 4, seed=5).requires_grad_()
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    layer = OptLayer(EigenvalueMixture())
    assert torch.autograd.gradcheck(lambda A, w: layer(A, w).value, (A, w))
    d = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    e = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    w5 = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, e, w: layer(SymTridiagonal(d, e), w).value,
                                    (d, e, w5))


def test_float32_dense_matches_float64_reference():
    A = _sym(64, 16, seed=6, dtype=torch.float32)
    w = EigenvalueMixture.haversine(16, dtype=torch.float32)
    value = OptLayer(EigenvalueMixture())(A.requires_grad_(), w).value
    (gA,) = torch.autograd.grad(value.sum(), A)
    ref, ref_gA, _ = _reference(A, w)
    assert value.dtype == torch.float32
    assert _rel(value.detach(), ref) < 1e-5 and _rel(gA, ref_gA) < 1e-5


def test_broadcasting_and_solution_X():
    A = _sym(6, 5, seed=7).reshape(2, 3, 5, 5)
    w = torch.randn(3, 5, dtype=torch.float64)  # one weight vector per column of the batch
    sol = OptLayer(EigenvalueMixture())(A, w)
    assert sol.value.shape == (2, 3)
    ref, ref_X, _ = _reference(A.reshape(-1, 5, 5), w.expand(2, 3, 5).reshape(-1, 5))
    assert _rel(sol.value.reshape(-1), ref) < 1e-10
    assert _rel(sol.X.reshape(-1, 5, 5), ref_X) < 1e-10
    assert sol.x is None


def test_special_cases_are_sphere_qp_and_ky_fan():
    A = _sym(4, 6, seed=8)
    layer = OptLayer(EigenvalueMixture())
    e2 = torch.zeros(6, dtype=torch.float64)
    e2[2] = 1
    assert torch.allclose(layer(A, e2).value, OptLayer(SphereQP(2))(A).value, atol=1e-12)
    window = EigenvalueMixture.window(6, 0, 2, dtype=torch.float64)  # clipped: λ_0 + λ_1 + λ_2
    assert window.tolist() == [1, 1, 1, 0, 0, 0]
    assert torch.allclose(layer(A, window).value, OptLayer(KyFan(3))(A).value, atol=1e-12)


@pytest.mark.parametrize("k", [0, 2, 5])
def test_smoothed_unit_weights_equal_smoothed_sphere_qp(k):
    A = _sym(3, 6, seed=9).requires_grad_()
    ek = torch.zeros(6, dtype=torch.float64)
    ek[k] = 1
    a = OptLayer(EigenvalueMixture(smoothing=0.3))(A, ek).value
    b = OptLayer(SphereQP(k, smoothing=0.3))(A).value
    assert torch.allclose(a, b, atol=1e-12)
    ga, gb = (torch.autograd.grad(v.sum(), A)[0] for v in (a, b))
    assert torch.allclose(ga, gb, atol=1e-12)


def test_smoothed_gradient_by_finite_differences():
    A = _sym(2, 5, seed=10).requires_grad_()
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    layer = OptLayer(EigenvalueMixture(smoothing=0.5))
    assert torch.autograd.gradcheck(lambda A, w: layer(A, w).value, (A, w))


@pytest.mark.parametrize("smoothing", [None, 0.2])
def test_sdp_backend_agrees(smoothing):
    A = _sym(3, 5, seed=11).requires_grad_()
    w = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w.requires_grad_()
    problem = EigenvalueMixture(smoothing=smoothing)
    eig, sdp = OptLayer(problem)(A, w), OptLayer(problem, "sdp")(A, w)
    assert _rel(sdp.value.detach(), eig.value.detach()) < 1e-6
    g_eig = torch.autograd.grad(eig.value.sum(), (A, w))
    g_sdp = torch.autograd.grad(sdp.value.sum(), (A, w))
    for a, b in zip(g_sdp, g_eig):
        assert _rel(a, b) < 1e-6
    assert _rel(sdp.X.detach(), eig.X) < 1e-6


def test_signed_ky_fan_identity():
    """⟨w, λ⟩ = Σ_{m<n} (w_{m−1} − w_m) F_m + w_{n−1} tr A (the coefficients the SDP uses)."""
    A = _sym(4, 6, seed=12)
    w = torch.randn(4, 6, dtype=torch.float64)
    c, largest = EigenvalueMixture().ky_fan_coefficients(w)
    F = torch.linalg.eigvalsh(A).cumsum(-1)  # F_1 … F_n
    assert not largest
    assert torch.allclose((c * F).sum(-1), OptLayer(EigenvalueMixture())(A, w).value)


def test_window_and_haversine_helpers():
    assert EigenvalueMixture.window(9, 4, 1).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert EigenvalueMixture.window(5, -1, 1).tolist() == [0, 0, 0, 1, 1]
    h = EigenvalueMixture.haversine(9, dtype=torch.float64)
    assert h.argmax() == 4 and abs(h.sum() - 1) < 1e-15 and h[0] == h[-1] == 0
    assert torch.allclose(h, h.flip(0))
    with pytest.raises(ValueError, match="half_width"):
        EigenvalueMixture.window(5, 2, -1)
    with pytest.raises(ValueError, match="index"):
        EigenvalueMixture.window(5, 5, 1)


def test_bad_weights_are_refused_by_name():
    A = _sym(2, 4)
    layer = OptLayer(EigenvalueMixture())
    with pytest.raises(ValueError, match=r"w must have shape \(\.\.\., n\) with n = 4"):
        layer(A, torch.ones(3, dtype=torch.float64))
    bad = torch.ones(4, dtype=torch.float64)
    bad[1] = float("nan")
    with pytest.raises(ValueError, match="w has non-finite"):
        layer(A, bad)
    with pytest.raises(ValueError, match="w's batch shape"):
        layer(A, torch.ones(3, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="w must have the dtype of A"):
        layer(A, torch.ones(4, dtype=torch.float32))
    with pytest.raises(ValueError, match="smoothing"):
        EigenvalueMixture(smoothing=-1.0)


def test_verify_cross_checks_mixtures_and_its_measure_can_fail():
    from optneuron.verify import sweep_cases, verify
    from optneuron.verify_references import mixture_distance

    cases = [c for c in sweep_cases(4, 2, torch.Generator().manual_seed(0), quick=True)
             if isinstance(c[1], EigenvalueMixture)]
    assert len(cases) == 3
    for _, problem, data in cases:
        report = verify(problem, data)
        assert report.ok, str(report)
    # the Clarke measure: zero for any eigenbasis of a double eigenvalue, positive otherwise
    mu = np.array([-1.0, -1.0, 0.5, 2.0])
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))[0]
    w = np.array([0.0, 1.0, 1.0, 0.0])
    c, s = np.cos(0.4), np.sin(0.4)
    R = np.eye(4)
    R[:2, :2] = [[c, -s], [s, c]]
    V = Q @ R
    assert mixture_distance((V * w) @ V.T, Q, mu, w, 1e-9) < 1e-12
    w_wrong = np.array([1.0, 1.0, 1.0, 0.0])
    assert mixture_distance((Q * w_wrong) @ Q.T, Q, mu, w, 1e-9) > 0.5
    off = (Q * w) @ Q.T + 0.1 * (np.outer(Q[:, 0], Q[:, 3]) + np.outer(Q[:, 3], Q[:, 0]))
    assert mixture_distance(off, Q, mu, w, 1e-9) > 0.1


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_rows_the_kernel_flags_are_resolved_by_lapack(monkeypatch, structure):
    from optneuron import kernels

    name = "dense_spectrum" if structure == "dense" else "tridiagonal_spectrum"
    original = getattr(kernels, name)

    def flag_first_row(*args, **kwargs):
        out = list(original(*args, **kwargs))
        out[0][0] = 1e6  # a wrong value the fallback must replace
        out[-1][0] = True
        return tuple(out)

    monkeypatch.setattr(kernels, name, flag_first_row)
    A = _sym(3, 5, seed=13)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    data = A.clone().requires_grad_() if structure == "dense" else SymTridiagonal(
        torch.diagonal(A, dim1=-2, dim2=-1).clone().requires_grad_(),
        torch.diagonal(A, 1, dim1=-2, dim2=-1).clone().requires_grad_())
    value = OptLayer(EigenvalueMixture(), method="kernel")(data, w).value
    dense = data if structure == "dense" else data.to_dense()
    ref, _, _ = _reference(dense, w)
    assert _rel(value.detach(), ref) < 1e-10
    leaves = (data,) if structure == "dense" else (data.diag, data.off)
    grads = torch.autograd.grad(value.sum(), leaves)
    ref_grads = torch.autograd.grad((torch.linalg.eigvalsh(dense) * w).sum(), leaves)
    for g, r in zip(grads, ref_grads):
        assert _rel(g, r) < 1e-10


def test_non_finite_A_is_refused_on_every_path():
    A = _sym(2, 4)
    A[1, 0, 0] = float("inf")
    w = torch.ones(4, dtype=torch.float64)
    for method in ("kernel", "lapack"):
        with pytest.raises(ValueError, match="non-finite"):
            OptLayer(EigenvalueMixture(), method=method)(A.requires_grad_(), w)
