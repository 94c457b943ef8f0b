import numpy as np
import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP, SymTridiagonal
from optneuron.verify import subdifferential_distance

from spectra_helpers import random_symmetric, with_spectrum


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_values_match_numpy_eigvalsh_for_every_index(dtype, n):
    A = random_symmetric(3, 2, n, n, seed=n, dtype=dtype)
    mu = np.linalg.eigvalsh(A.double().numpy())
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for k in range(-n, n):
        value = OptLayer(SphereQP(k))(A).value
        assert value.shape == (3, 2) and value.dtype == dtype
        np.testing.assert_allclose(value.double().numpy(), mu[..., k], atol=tol * 10)
    for m in range(1, n + 1):
        np.testing.assert_allclose(
            OptLayer(KyFan(m))(A).value.double().numpy(), mu[..., :m].sum(-1), atol=tol * 10 * m
        )
        np.testing.assert_allclose(
            OptLayer(KyFan(m, largest=True))(A).value.double().numpy(),
            mu[..., -m:].sum(-1),
            atol=tol * 10 * m,
        )


@pytest.mark.parametrize("problem", [SphereQP(0), SphereQP(2), SphereQP(-1), KyFan(2),
                                     KyFan(2, largest=True), SphereQP(1, smoothing=0.3),
                                     KyFan(3, smoothing=0.2)])
def test_gradcheck_dense_away_from_crossings(problem):
    A = with_spectrum([[-2.0, -0.5, 0.7, 1.9, 3.2]], seed=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda M: OptLayer(problem)(M).value, (A,))


@pytest.mark.parametrize(
    "problem", [SphereQP(0), SphereQP(3), KyFan(2), SphereQP(2, smoothing=0.5),
                KyFan(1, smoothing=0.4), KyFan(1, largest=True, smoothing=0.4)]
)
@pytest.mark.parametrize("method", ["kernel", "lapack"])
def test_gradcheck_tridiagonal_away_from_crossings(problem, method):
    g = torch.Generator().manual_seed(3)
    d = torch.randn(2, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    e = (torch.rand(2, 5, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    func = lambda d, e: OptLayer(problem, method=method)(SymTridiagonal(d, e)).value  # noqa: E731
    assert torch.autograd.gradcheck(func, (d, e))


@pytest.mark.parametrize("method", ["kernel", "lapack"])
def test_tridiagonal_gradient_formula_and_dense_agree(method):
    g = torch.Generator().manual_seed(4)
    d = torch.randn(3, 7, generator=g, dtype=torch.float64)
    e = torch.randn(3, 6, generator=g, dtype=torch.float64)
    d[1], e[1] = 1.0, 0.0  # the identity: a row the kernels hand to LAPACK
    d.requires_grad_(True)
    e.requires_grad_(True)
    T = SymTridiagonal(d, e)
    sol = OptLayer(SphereQP(3), method=method)(T)
    sol.value.sum().backward()
    q = sol.x.detach()
    torch.testing.assert_close(d.grad, q * q)
    torch.testing.assert_close(e.grad, 2 * q[:, :-1] * q[:, 1:])
    dense = OptLayer(SphereQP(3))(T.to_dense().detach()).value
    torch.testing.assert_close(sol.value.detach(), dense)


def test_gradient_is_qqT_and_x_is_a_unit_eigenvector():
    A = random_symmetric(4, 6, 6, seed=5).requires_grad_(True)
    sol = OptLayer(SphereQP(2))(A)
    sol.value.sum().backward()
    q = sol.x
    torch.testing.assert_close(torch.linalg.vector_norm(q, dim=-1), torch.ones(4, dtype=A.dtype))
    Aq = A.detach() @ q.unsqueeze(-1)
    torch.testing.assert_close(Aq.squeeze(-1), sol.value.detach().unsqueeze(-1) * q)
    torch.testing.assert_close(A.grad, q.unsqueeze(-1) * q.unsqueeze(-2))
    torch.testing.assert_close(sol.X, A.grad)


def test_kyfan_gradient_is_the_projector_and_x_is_orthonormal():
    A = random_symmetric(3, 6, 6, seed=6).requires_grad_(True)
    sol = OptLayer(KyFan(3, largest=True))(A)
    sol.value.sum().backward()
    U = sol.x
    assert U.shape == (3, 6, 3)
    torch.testing.assert_close(U.mT @ U, torch.eye(3, dtype=A.dtype).expand(3, 3, 3))
    torch.testing.assert_close(A.grad, U @ U.mT)


@pytest.mark.parametrize("problem", [SphereQP(0), SphereQP(1), SphereQP(2), SphereQP(-1),
                                     KyFan(1), KyFan(2), KyFan(3, largest=True)])
def test_repeated_eigenvalues_give_a_finite_clarke_subgradient(problem):
    mu = torch.tensor([[1.0, 1.0, 1.0, 2.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    A = with_spectrum(mu, seed=7).requires_grad_(True)
    OptLayer(problem)(A).value.sum().backward()
    assert torch.isfinite(A.grad).all()
    lo, hi = problem.eigen_range(6)
    for b in range(2):
        m, Q = np.linalg.eigh(A.detach()[b].numpy())
        dist = subdifferential_distance(A.grad[b].numpy(), Q, m, lo, hi, 1e-8)
        assert dist < 1e-12


def test_no_grad_computes_values_only_and_lifts_lazily(monkeypatch):
    A = random_symmetric(5, 4, 4, seed=8)
    calls = []
    real_eigh = torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda M: calls.append(1) or real_eigh(M))
    with torch.no_grad():
        sol = OptLayer(SphereQP(1), method="lapack")(A)
    assert calls == []
    X = sol.X
    assert calls == [1]
    q = sol.x
    torch.testing.assert_close(X, q.unsqueeze(-1) * q.unsqueeze(-2))
    assert calls == [1]


def test_smoothed_value_tends_to_the_exact_value():
    A = random_symmetric(3, 7, 7, seed=9)
    exact = OptLayer(SphereQP(3))(A).value
    errors = [
        (OptLayer(SphereQP(3, smoothing=a))(A).value - exact).abs().max().item()
        for a in (1.0, 1e-2, 1e-4)
    ]
    assert errors[0] <= 7 / 2 * 1.0 and errors[1] <= 7 / 2 * 1e-2 and errors[2] <= 7 / 2 * 1e-4
    assert errors[2] < errors[0]


def test_batch_shapes_and_empty_batches():
    A = random_symmetric(2, 0, 3, 4, 4, seed=10)
    sol = OptLayer(SphereQP(1))(A)
    assert sol.value.shape == (2, 0, 3)
    assert sol.X.shape == (2, 0, 3, 4, 4)
    single = random_symmetric(4, 4, seed=11)
    assert OptLayer(KyFan(2))(single).value.shape == ()


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        OptLayer(SphereQP(0), method="magic")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("problem", [SphereQP(0), SphereQP(4), SphereQP(-1), KyFan(3),
                                     KyFan(2, largest=True), SphereQP(3, smoothing=0.2)])
def test_kernel_and_lapack_paths_agree(dtype, problem):
    A = random_symmetric(16, 9, 9, seed=12, dtype=dtype)
    g = torch.Generator().manual_seed(13)
    T = SymTridiagonal(torch.randn(16, 9, generator=g, dtype=dtype),
                       torch.randn(16, 8, generator=g, dtype=dtype))
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    for M in (A, T):
        grads = {}
        for method in ("kernel", "lapack"):
            leaf = (M.to_dense() if isinstance(M, SymTridiagonal) else M).clone()
            leaf.requires_grad_(True)
            value = OptLayer(problem, method=method)(leaf).value
            value.sum().backward()
            grads[method] = (value.detach(), leaf.grad)
        torch.testing.assert_close(grads["kernel"][0], grads["lapack"][0], atol=tol, rtol=0)
        torch.testing.assert_close(grads["kernel"][1], grads["lapack"][1], atol=tol * 100, rtol=0)


def test_kernel_falls_back_to_lapack_on_clustered_rows():
    mu = torch.tensor([[1.0, 1.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    A = with_spectrum(mu, seed=14).requires_grad_(True)
    sol = OptLayer(SphereQP(1), method="kernel")(A)
    sol.value.sum().backward()
    torch.testing.assert_close(sol.value.detach(), torch.tensor([1.0, 2.0], dtype=A.dtype))
    for b in range(2):
        m, Q = np.linalg.eigh(A.detach()[b].numpy())
        assert subdifferential_distance(A.grad[b].numpy(), Q, m, 1, 2, 1e-8) < 1e-12


def test_tridiagonal_kernel_gradient_matches_lapack():
    g = torch.Generator().manual_seed(15)
    d = torch.randn(8, 12, generator=g, dtype=torch.float64)
    e = torch.randn(8, 11, generator=g, dtype=torch.float64)
    grads = []
    for method in ("kernel", "lapack"):
        dd, ee = d.clone().requires_grad_(True), e.clone().requires_grad_(True)
        OptLayer(SphereQP(5), method=method)(SymTridiagonal(dd, ee)).value.sum().backward()
        grads.append((dd.grad, ee.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])
