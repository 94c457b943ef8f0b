"""The eigen backend while the kernels compile: LAPACK answers, nothing waits silently."""

from __future__ import annotations

import pytest
import torch

from optneuron import OptLayer, SphereQP, SymTridiagonal
from optneuron.kernels import readiness


@pytest.fixture
def compiling(monkeypatch):
    """As on a cold cache: no kernel ready, a background compilation under way."""
    monkeypatch.setattr(readiness, "_ready", set())
    monkeypatch.setattr(readiness, "_background", object())
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a kernel ran before it was ready")

    from optneuron import kernels

    # every kernel entry, public and the backend's checked ones
    for name in ("dense_eigenpairs", "tridiagonal_eigenpairs", "tiny_eigenpairs",
                 "dense_eigenvector", "checked_dense_eigenpairs", "checked_tiny_eigenpairs",
                 "checked_tridiagonal_eigenpairs", "checked_dense_eigenvector"):
        monkeypatch.setattr(kernels, name, fail)
    return calls


def _inputs():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 5, 5, generator=g, dtype=torch.float64)
    T = SymTridiagonal(torch.randn(8, 5, generator=g, dtype=torch.float64),
                       torch.randn(8, 4, generator=g, dtype=torch.float64))
    return A + A.mT, T


def test_auto_serves_lapack_until_the_kernels_are_ready(compiling):
    for A in _inputs():
        got = OptLayer(SphereQP(2))(A)
        want = OptLayer(SphereQP(2), method="lapack")(A)
        assert torch.equal(got.value, want.value)
        A_grad = A.to_dense() if isinstance(A, SymTridiagonal) else A
        x = A_grad.clone().requires_grad_(True)
        OptLayer(SphereQP(2))(x).value.sum().backward()
        ref = torch.linalg.eigh(A_grad)[1][..., 2]
        torch.testing.assert_close(x.grad, ref[..., :, None] * ref[..., None, :])
    assert compiling == []


def test_deterministic_mode_waits_for_the_kernels(compiling, monkeypatch):
    from optneuron import kernels

    waited = []
    monkeypatch.setattr(kernels, "ensure_ready",
                        lambda kind, dtype, block=False: waited.append(block) or False)
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    A, _ = _inputs()
    OptLayer(SphereQP(0))(A)
    assert waited == [True]
