"""Thread safety: one layer called from several threads at once gives the serial answers.

The eigen backend runs compiled numba kernels (``parallel=True``) and LAPACK; the SDP backend
shares one compiled cvxpy problem per size. None of them may mix up concurrent calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP, SymTridiagonal
from optneuron.nn import SpectralLayer

THREADS = 4
CALLS = 24


def _inputs(kind: str, dtype=torch.float64):
    g = torch.Generator().manual_seed(5)
    out = []
    for i in range(CALLS):
        n = 3 + i % 6
        if kind == "dense":
            A = torch.randn(5, n, n, generator=g, dtype=dtype)
            out.append(A + A.mT)
        else:
            out.append(SymTridiagonal(torch.randn(5, n, generator=g, dtype=dtype),
                                      torch.randn(5, n - 1, generator=g, dtype=dtype)))
    return out


def _concurrent(fn, inputs):
    serial = [fn(x) for x in inputs]
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(3):
            parallel = list(pool.map(fn, inputs))
            for s, p in zip(serial, parallel):
                for a, b in zip(s, p):
                    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["dense", "tridiagonal"])
@pytest.mark.parametrize("method", ["auto", "kernel", "lapack"])
@pytest.mark.parametrize("problem", [SphereQP(1), SphereQP(-1), KyFan(2, smoothing=0.1)])
def test_eigen_layer_concurrent_calls(problem, method, kind):
    layer = OptLayer(problem, method=method)

    def fn(A):
        sol = layer(A)
        return sol.value, sol.X

    _concurrent(fn, _inputs(kind))


def test_eigen_layer_concurrent_backward():
    layer = OptLayer(SphereQP(0))

    def fn(A):
        A = A.clone().requires_grad_(True)
        sol = layer(A)
        (sol.value ** 2).sum().backward()
        return sol.value.detach(), A.grad

    _concurrent(fn, _inputs("dense"))


def test_spectral_layer_concurrent_training_steps():
    torch.manual_seed(0)
    model = SpectralLayer(3, 4, 5, index=-1, structure="tridiagonal")
    g = torch.Generator().manual_seed(1)
    batches = [torch.randn(16, 3, generator=g) for _ in range(CALLS)]

    def fn(z):
        out = model(z)
        grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
        return (out.detach(), *grads)

    _concurrent(fn, batches)


def test_sdp_layer_concurrent_calls():
    layer = OptLayer(SphereQP(0), "sdp")
    g = torch.Generator().manual_seed(2)
    inputs = [torch.randn(2, 3, 3, generator=g, dtype=torch.float64) for _ in range(8)]

    def fn(A):
        return (layer(A).value,)

    serial = [fn(A) for A in inputs]
    with ThreadPoolExecutor(THREADS) as pool:
        parallel = list(pool.map(fn, inputs))
    for (s,), (p,) in zip(serial, parallel):
        # Clarabel is deterministic for the same problem data
        assert torch.allclose(s, p, rtol=0, atol=1e-12)
