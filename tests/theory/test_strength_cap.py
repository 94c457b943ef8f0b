"""theory/strength-cap.md: the radial strength cap is feasible, a nearest point in the strength
seminorm, and idempotent; a capped fit ends inside the cap."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_friedman1

from optneuron.sklearn import SpectralRegressor, _cap_strengths, _ReadoutNet


def _net(seed):
    g = torch.Generator().manual_seed(seed)
    net = _ReadoutNet(3, [], 1, n_neurons=4, dim=3, index=-1, structure="dense",
                      smoothing=None, generator=g)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def _theta(net):
    return net.spectral.pencil.weight.detach().clone(), net.skip.weight.detach().clone()


def _strength(net, W, V):
    """N_i for every feature, with the readout of `net` and feature blocks (W, V)."""
    A = net.spectral.pencil._pattern.symmetric(W)  # (H, in, n, n)
    op = torch.linalg.eigvalsh(A).abs().amax(-1)  # (H, in)
    return (net.readout.weight.detach().abs() @ op + V.abs())[0]


@pytest.mark.parametrize("seed", range(3))
def test_radial_scaling_is_a_nearest_feasible_point(seed):
    net = _net(seed)
    W0, V0 = _theta(net)
    N0 = _strength(net, W0, V0)
    cap = float(N0.median())  # some features feasible, some not
    _cap_strengths(net, np.ones((1, 3)), cap)
    W1, V1 = _theta(net)
    N1 = _strength(net, W1, V1)
    # 1. feasibility, exactly min(N, c)
    np.testing.assert_allclose(N1, torch.clamp(N0, max=cap), rtol=1e-12)
    # 2. nearest point: no feasible q is closer in N_i (random feasible q, scaled onto the ball)
    dist = _strength(net, W0 - W1, V0 - V1)
    np.testing.assert_allclose(dist, torch.clamp(N0 - cap, min=0), rtol=1e-10, atol=1e-12)
    g = torch.Generator().manual_seed(100 + seed)
    for _ in range(200):
        Wq = torch.randn(W0.shape, generator=g, dtype=W0.dtype)
        Vq = torch.randn(V0.shape, generator=g, dtype=V0.dtype)
        Nq = _strength(net, Wq, Vq)
        t = cap * torch.rand(3, generator=g, dtype=W0.dtype) / Nq  # N(q) ≤ cap per feature
        Wq, Vq = Wq * t[None, :, None], Vq * t[None, :]
        assert torch.all(_strength(net, W0 - Wq, V0 - Vq) >= dist - 1e-12)
    # 3. idempotent
    _cap_strengths(net, np.ones((1, 3)), cap)
    W2, V2 = _theta(net)
    torch.testing.assert_close(W2, W1, rtol=1e-12, atol=0)
    torch.testing.assert_close(V2, V1, rtol=1e-12, atol=0)


def test_cap_holds_after_fit():
    X, y = make_friedman1(n_samples=400, noise=0.5, random_state=0)
    free = SpectralRegressor(random_state=0, max_iter=30).fit(X, y)
    cap = 0.5 * float(free.feature_strengths_.max())
    capped = SpectralRegressor(random_state=0, max_iter=30, max_feature_strength=cap).fit(X, y)
    assert np.all(capped.feature_strengths_ <= cap * (1 + 1e-9))
    assert np.all(np.asarray(capped.feature_strengths_history_) <= cap * (1 + 1e-9))
    # it still trains: clearly better than the constant predictor (R² ≈ 0.7 here; the free
    # fit reaches ≈ 0.95, the cap halves the strongest feature's slope bound)
    assert capped.score(X, y) > 0.5, capped.score(X, y)
