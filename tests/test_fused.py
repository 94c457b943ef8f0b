"""The estimators' fused network (optneuron/fused.py) against the general path, finite
differences and its conditions."""

import numpy as np
import pytest
import torch

from optneuron import SpectralLayer
from optneuron.fused import fused_plan, fused_readout
from optneuron.sklearn import SpectralRegressor, _ReadoutNet


def _net(index=-1, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    options = dict(n_neurons=3, dim=4, index=index, structure="dense", smoothing=None,
                   generator=g)
    options.update(kwargs)
    net = _ReadoutNet(5, [], 2, **options)
    with torch.no_grad():  # nonzero skip and readout bias: every gradient is exercised
        net.skip.weight.normal_(generator=g)
        net.readout.bias.normal_(generator=g)
        net.spectral.pencil.bias[:, 2] = 25.0  # softplus above its threshold
    return net


def _both(net, z):
    fused = net(z)
    plan, net._fused = net._fused, None
    try:
        general = net(z)
    finally:
        net._fused = plan
    return fused, general


@pytest.mark.parametrize("index", [-1, 0, 1])
def test_values_and_gradients_equal_the_general_path(index):
    net = _net(index)
    assert net._fused is not None
    z = torch.randn(40, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    fused, general = _both(net, z)
    torch.testing.assert_close(fused, general, atol=1e-13, rtol=0)
    g = torch.randn_like(fused)
    params = [z, *net.parameters()]
    for a, b in zip(torch.autograd.grad(fused, params, g), torch.autograd.grad(general, params, g)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_gradcheck_against_finite_differences():
    net = _net(-1, seed=3)
    s = net.spectral.pencil
    z = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    args = [t.detach().clone().requires_grad_(True)
            for t in (z, s.bias, s.weight, net.readout.weight, net.readout.bias, net.skip.weight)]
    assert torch.autograd.gradcheck(lambda *a: fused_readout(net._fused, *a), args)


def test_a_repeated_eigenvalue_goes_to_lapack():
    # gaps of softplus(-60) ~ 1e-26: A(0) = diag(μ) has λ_0 = λ_1 to working precision
    net = _net(0)
    with torch.no_grad():
        net.spectral.pencil.bias[:, 1] = -60.0
    z = torch.zeros(3, 5, dtype=torch.float64, requires_grad=True)
    fused, general = _both(net, z)
    torch.testing.assert_close(fused, general, atol=1e-14, rtol=0)
    out = net(z)
    (g_bias,) = torch.autograd.grad(out[:, 0].sum(), [net.spectral.pencil.bias])
    # ∂λ/∂μ_j = q_j² sums to 1 (tr q qᵀ): the readout weight per neuron, per row of the batch
    torch.testing.assert_close(g_bias[:, 0], 3 * net.readout.weight[0].detach(), atol=1e-12,
                               rtol=0)


@pytest.mark.parametrize("change", [
    dict(smoothing=0.1), dict(neuron="mixture"), dict(structure="tridiagonal"), dict(dim=9)])
def test_only_the_exact_cases_are_fused(change):
    assert _net(**change)._fused is None


def test_no_plan_for_other_backends_or_monotone_features():
    layer = SpectralLayer(3, 2, 4, backend_options={"method": "lapack"}, dtype=torch.float64)
    assert fused_plan(layer, None) is None
    layer = SpectralLayer(3, 2, 4, monotone={0: 1}, dtype=torch.float64)
    assert fused_plan(layer, None) is None
    assert fused_plan(SpectralLayer(3, 2, 4, dtype=torch.float64), object()) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_estimator_fits_the_same_with_and_without_the_fused_path(task, monkeypatch):
    import optneuron.sklearn as sk
    from optneuron import SpectralClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    if task != "regression":
        y = np.digitize(y, [0.0] if task == "binary" else [-0.5, 0.5])
    cls = SpectralRegressor if task == "regression" else SpectralClassifier
    options = dict(random_state=0, max_iter=3, early_stopping=False)
    fast = cls(**options).fit(X, y)
    assert fast.model_._fused is not None
    monkeypatch.setattr(sk, "fused_plan", lambda *args: None)
    slow = cls(**options).fit(X, y)
    assert slow.model_._fused is None
    out = "predict" if task == "regression" else "predict_proba"
    np.testing.assert_allclose(getattr(fast, out)(X), getattr(slow, out)(X), atol=1e-9)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-9)

@pytest.mark.parametrize("name", ["squared_error", "binary_log_loss", "log_loss"])
def test_numpy_loss_gradients_equal_autograd(name):
    from optneuron.sklearn import _loss_function

    loss = _loss_function(name, weighted=False)
    g = torch.Generator().manual_seed(0)
    out = (torch.randn(20, 3, dtype=torch.float64, generator=g) * 30).requires_grad_(True)
    if name == "squared_error":
        t = torch.randn(20, 3, dtype=torch.float64, generator=g)
    elif name == "binary_log_loss":
        t = torch.randint(0, 2, (20,), generator=g).double()
    else:
        t = torch.randint(0, 3, (20,), generator=g)
    ref = loss(out, t)
    (ref_grad,) = torch.autograd.grad(ref, out)
    value, grad = loss.gradient(out.detach().numpy(), t)
    assert value == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad.numpy(), rtol=1e-12, atol=1e-15)
