"""optneuron.hybrid: fit_hybrid over training.train, the certificate, the monotonicity sweep."""

import numpy as np
import pytest
import torch

from optneuron.hybrid import HybridNet, feature_certificate, fit_hybrid, monotonicity_check

F64 = torch.float64


def _problem(n=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, 4, generator=g, dtype=F64)
    y = Z[:, 0] - 0.5 * Z[:, 2] + 0.3 * torch.tanh(Z[:, 1])
    return Z, y


def _net(seed=0):
    torch.manual_seed(seed)
    return HybridNet(4, {0: 1, 2: -1}, n_neurons=3, dim=3,
                     generator=torch.Generator().manual_seed(seed))


def test_fit_hybrid_keeps_the_best_validation_epoch_and_is_seeded():
    Z, y = _problem()
    net = _net()
    history = fit_hybrid(net, Z, y, epochs=6, lr=0.05, seed=1, progress=False)
    assert len(history["train"]) == len(history["valid"]) == 6
    best = history["best_epoch"]
    assert history["valid"][best - 1] == min(history["valid"])
    # the kept weights are the best epoch's: recompute the loss on the same held-out rows
    order = torch.randperm(len(Z), generator=torch.Generator().manual_seed(1))
    val = order[: round(0.15 * len(Z))]
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(net(Z[val]), y[val]).item()
    assert loss == min(history["valid"])
    again = fit_hybrid(_net(), Z, y, epochs=6, lr=0.05, seed=1, progress=False)
    assert again == history


def test_fit_hybrid_without_validation_and_bad_task():
    Z, y = _problem(30)
    history = fit_hybrid(_net(), Z, y, epochs=2, val_fraction=0.0, progress=False)
    assert history["valid"] == [] and "best_epoch" not in history
    with pytest.raises(ValueError, match="task"):
        fit_hybrid(_net(), Z, y, epochs=1, task="ranking", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit_hybrid(_net(), Z, y, epochs=0, progress=False)


def test_certificate_bounds_finite_differences_along_each_feature():
    net = _net()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2),
                                     dtype=F64))
    L = feature_certificate(net)
    z = torch.randn(200, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    for i in range(4):
        t = torch.randn(200, generator=torch.Generator().manual_seed(4 + i), dtype=F64)
        moved = z.clone()
        moved[:, i] += t
        with torch.no_grad():
            change = (net(moved) - net(z)).abs()
        assert (change <= L[i] * t.abs() * (1 + 1e-9) + 1e-12).all(), i


def test_monotonicity_check_counts_wrong_way_steps_and_slopes():
    X = np.random.default_rng(0).normal(size=(5, 2))
    up = monotonicity_check(lambda A: 3 * A[:, 0], X, 0, +1, num=11)
    assert up["violations"] == 0 and up["steps"] == 50 and up["worst"] == 0.0
    assert up["max_slope"] == pytest.approx(3.0)
    down = monotonicity_check(lambda A: 3 * A[:, 0], X, 0, -1, num=11)
    assert down["violations"] == 50 and down["worst"] < 0
    flat = monotonicity_check(lambda A: A[:, 1], X, 0, -1, num=11)
    assert flat["violations"] == 0 and flat["max_slope"] == 0.0
