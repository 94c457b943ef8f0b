"""kernels.trust_region: the O(n)-per-step tridiagonal trust-region solve against the dense one."""

import numpy as np
import pytest
import torch

from optneuron import OptLayer, SymTridiagonal, TrustRegion
from optneuron.kernels import tridiagonal_eigenpairs
from optneuron.kernels.trust_region import tridiagonal_trust_region

EPS = np.finfo(float).eps


def _dense_value(d, e, b, ball):
    T = torch.tensor(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
    return OptLayer(TrustRegion(ball), method="lapack")(T, torch.tensor(b)).value.item()


def _solve(d, e, b, ball):
    lam, q, suspect = tridiagonal_eigenpairs(d, e, 0, 1)
    assert not suspect.any()
    return tridiagonal_trust_region(d, e, b, lam[:, 0], q[:, :, 0], ball)


@pytest.mark.parametrize("n", [1, 2, 7, 40])
@pytest.mark.parametrize("ball", [False, True])
def test_matches_the_dense_eigendecomposition_path(n, ball):
    rng = np.random.default_rng(n)
    d, e = rng.standard_normal((30, n)), rng.standard_normal((30, max(n - 1, 0)))
    b = rng.standard_normal((30, n)) * rng.choice([1e-3, 0.3, 3.0], (30, 1))
    if ball:
        d += 3.0  # many positive definite rows, some with interior solutions
    x, value, _ = _solve(d, e, b, ball)
    for r in range(30):
        scale = max(np.abs(d[r]).max() + 2 * np.abs(e[r]).max(initial=0), np.linalg.norm(b[r]))
        assert abs(value[r] - _dense_value(d[r], e[r], b[r], ball)) <= 64 * n * EPS * scale
    norms = np.linalg.norm(x, axis=1)
    assert np.all(norms <= 1 + 1e-14) and (ball or np.allclose(norms, 1, atol=1e-14))


def test_hard_case_and_zero_b():
    rng = np.random.default_rng(3)
    n = 9
    d, e = rng.standard_normal((4, n)), rng.standard_normal((4, n - 1))
    lam, q, _ = tridiagonal_eigenpairs(d, e, 0, n)
    b = np.zeros((4, n))
    for r in range(1, 4):  # b ⟂ q_0 and small: the hard case proper
        c = rng.standard_normal(n) * 0.05
        c[0] = 0
        b[r] = q[r] @ c
    x, value, hard = _solve(d, e, b, False)
    assert hard.all()
    for r in range(4):
        assert abs(value[r] - _dense_value(d[r], e[r], b[r], False)) <= 1e-12
        assert abs(np.linalg.norm(x[r]) - 1) <= 1e-14
    np.testing.assert_allclose(value[0], lam[0, 0], atol=1e-13)


def test_layer_uses_the_kernel_for_tridiagonal_input_with_danskin_gradients():
    g = torch.Generator().manual_seed(5)
    d = torch.randn(3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    e = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda d, e, b: OptLayer(TrustRegion())(SymTridiagonal(d, e), b).value, (d, e, b))
    lapack = OptLayer(TrustRegion(), method="lapack")(SymTridiagonal(d, e), b).value
    torch.testing.assert_close(OptLayer(TrustRegion())(SymTridiagonal(d, e), b).value, lapack)


def test_repeated_bottom_eigenvalue_falls_back_to_the_dense_path():
    # a reducible T with two equal blocks: λ_0 is double, the eigen-kernel flags the row
    d = torch.tensor([[-1.0, 2.0, -1.0, 2.0]], dtype=torch.float64)
    e = torch.tensor([[0.5, 0.0, 0.5]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.1, 0.0, 0.0]], dtype=torch.float64)
    T = SymTridiagonal(d, e)
    value = OptLayer(TrustRegion())(T, b).value
    torch.testing.assert_close(value, OptLayer(TrustRegion())(T.to_dense(), b).value)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="diag and b"):
        tridiagonal_trust_region(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 4)),
                                 np.zeros(2), np.zeros((2, 3)))


@pytest.mark.parametrize("n", [1, 2, 3, 16])
@pytest.mark.parametrize("ball", [False, True])
def test_dense_reduction_path_matches_lapack(n, ball):
    g = torch.Generator().manual_seed(n)
    A = torch.randn(20, n, n, generator=g, dtype=torch.float64)
    A = (A + A.mT) / 2 + (2.0 if ball else 0.0) * torch.eye(n, dtype=torch.float64)
    b = torch.randn(20, n, generator=g, dtype=torch.float64) * 0.5
    kernel = OptLayer(TrustRegion(ball), method="kernel")(A, b)
    lapack = OptLayer(TrustRegion(ball), method="lapack")(A, b)
    scale = torch.linalg.matrix_norm(A, 2).clamp_min(1)
    assert float(((kernel.value - lapack.value).abs() / scale).max()) <= 64 * n * EPS
    torch.testing.assert_close(kernel.x, lapack.x, atol=1e-10, rtol=0)
