"""optneuron.export.to_cvxpy: exact cvxpy forms of spectral modules and their compositions.

Reference: the module's own forward (eigen backend, float64) at random points; curvature as
cvxpy reports it.
"""

import numpy as np
import pytest
import torch
from torch import nn

import optneuron as on
from optneuron.export import DifferenceOfConcave, ExportError, to_cvxpy, to_difference_of_concave
from optneuron.nn import SpectralLayer, SpectralNeuron

cp = pytest.importorskip("cvxpy")

STRUCTURES = [("dense", None), ("tridiagonal", None), ("banded", 2)]


def _neuron(index, structure="dense", bandwidth=None, smoothing=None, seed=0, **kw):
    m = SpectralNeuron(3, 5, index=index, structure=structure, bandwidth=bandwidth,
                       smoothing=smoothing, dtype=torch.float64, **kw)
    m.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():  # off the near-affine start: a genuinely nonlinear function
        m.pencil.weight.mul_(4.0)
    return m


def _forward(module, z):
    with torch.no_grad():
        return module(torch.tensor(z)).numpy()


def _value_at(expr, var, z):
    var.value = z
    return np.asarray(expr.value, dtype=np.float64)


@pytest.mark.parametrize("structure,bandwidth", STRUCTURES)
@pytest.mark.parametrize("index", [0, 1, 2, -2, -1])
def test_export_matches_forward_every_structure_and_index(structure, bandwidth, index):
    module = _neuron(index, structure, bandwidth, monotone={0: 1, 2: -1})
    z = cp.Variable(3)
    expr = to_cvxpy(module, z)
    if index == 0:
        assert isinstance(expr, cp.Expression) and expr.is_concave() and not expr.is_convex()
    elif index == -1:
        assert isinstance(expr, cp.Expression) and expr.is_convex() and not expr.is_concave()
    else:
        assert isinstance(expr, DifferenceOfConcave)
        assert expr.f.is_concave() and expr.g.is_concave()
    rng = np.random.default_rng(1)
    for point in rng.standard_normal((4, 3)):
        assert abs(_value_at(expr, z, point) - _forward(module, point)) <= 1e-6


@pytest.mark.parametrize("index", [0, 2, -1])
def test_smoothed_export_matches_forward(index):
    """The Moreau envelopes are partial optimizations; their value is an SDP solve."""
    module = _neuron(index, "tridiagonal", smoothing=0.3)
    z = cp.Variable(3)
    expr = to_cvxpy(module, z)
    if index == 0:
        assert expr.is_concave()
    elif index == -1:
        assert expr.is_convex()
    point = np.random.default_rng(2).standard_normal(3)
    assert abs(_value_at(expr, z, point) - _forward(module, point)) <= 1e-6


def test_repeated_eigenvalues():
    """A(0) = A_0 = c·I: every eigenvalue repeated; the export still equals the value."""
    module = _neuron(1)
    with torch.no_grad():
        # A_0 = diag(μ), μ_0 = 0.7 and gaps softplus(−60) ≈ 9e−27: 0.7·I to rounding
        module.pencil.bias.fill_(-60.0)
        module.pencil.bias[0] = 0.7
    z = cp.Variable(3)
    expr = to_cvxpy(module, z)
    assert abs(_value_at(expr, z, np.zeros(3)) - 0.7) <= 1e-9
    near = np.array([1e-7, -2e-7, 0.0])
    assert abs(_value_at(expr, z, near) - _forward(module, near)) <= 1e-6


def test_layer_export_is_a_vector():
    layer = SpectralLayer(3, 4, 5, index=0, structure="banded", bandwidth=1, dtype=torch.float64)
    z = cp.Variable(3)
    expr = layer.to_cvxpy(z)
    assert expr.shape == (4,) and expr.is_concave()
    point = np.array([0.3, -1.2, 0.8])
    np.testing.assert_allclose(_value_at(expr, z, point), _forward(layer, point), atol=1e-6)
    middle = SpectralLayer(3, 2, 5, index=2, dtype=torch.float64).to_cvxpy(z)
    assert isinstance(middle, DifferenceOfConcave) and middle.shape == (2,)


def test_affine_input_and_nonnegative_readout_stay_concave():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 3).double(), SpectralLayer(3, 4, 5, index=0, dtype=torch.float64),
        nn.Linear(4, 1).double(),
    )
    with torch.no_grad():
        model[2].weight.abs_()
    x = cp.Variable(2)
    expr = to_cvxpy(model, x)
    assert expr.shape == (1,) and expr.is_concave()
    point = np.array([0.5, -0.4])
    np.testing.assert_allclose(_value_at(expr, x, point), _forward(model, point), atol=1e-6)
    with torch.no_grad():  # mixed signs: concave − concave, an exact difference of concave
        model[2].weight[0, 0] = -1.0
    mixed = to_cvxpy(model, x)
    assert isinstance(mixed, DifferenceOfConcave)
    np.testing.assert_allclose(_value_at(mixed, x, point), _forward(model, point), atol=1e-6)


def test_monotone_features_allow_concave_inputs():
    """Concave outputs feeding a neuron: DCP composition needs it nondecreasing (PSD A_i)."""
    torch.manual_seed(1)
    inner = SpectralLayer(2, 2, 3, index=0, dtype=torch.float64)
    outer = SpectralNeuron(2, 3, index=0, monotone={0: 1, 1: 1}, dtype=torch.float64)
    model = nn.Sequential(inner, outer)
    x = cp.Variable(2)
    expr = to_cvxpy(model, x)
    assert expr.is_concave()
    point = np.array([0.2, -0.6])
    assert abs(_value_at(expr, x, point) - _forward(model, point)) <= 1e-6
    # maximizing it is one convex program that no random point beats
    problem = cp.Problem(cp.Maximize(expr), [x >= -1, x <= 1])
    problem.solve(solver="CLARABEL")
    grid = np.random.default_rng(0).uniform(-1, 1, (2000, 2))
    assert problem.value >= _forward(model, grid).max() - 1e-6

    plain = nn.Sequential(inner, SpectralNeuron(2, 3, index=0, monotone={0: 1},
                                                dtype=torch.float64))
    with pytest.raises(ExportError, match=r"input 1 is concave.*monotone\[1\] is not set"):
        to_cvxpy(plain, x)


def test_convex_inputs_need_nonincreasing_concave_neuron():
    torch.manual_seed(2)
    inner = SpectralLayer(2, 2, 3, index=-1, dtype=torch.float64)  # convex outputs
    outer = SpectralNeuron(2, 3, index=0, monotone={0: -1, 1: -1}, dtype=torch.float64)
    x = cp.Variable(2)
    expr = to_cvxpy(nn.Sequential(inner, outer), x)
    assert expr.is_concave()
    point = np.array([0.1, 0.9])
    assert abs(_value_at(expr, x, point) - _forward(nn.Sequential(inner, outer), point)) <= 1e-6


def test_relu_rules():
    torch.manual_seed(3)
    convex = nn.Sequential(SpectralLayer(2, 3, 4, index=-1, dtype=torch.float64), nn.ReLU())
    x = cp.Variable(2)
    expr = to_cvxpy(convex, x)
    assert expr.is_convex()
    point = np.array([0.3, 0.2])
    np.testing.assert_allclose(_value_at(expr, x, point), _forward(convex, point), atol=1e-6)
    concave = nn.Sequential(SpectralLayer(2, 3, 4, index=0, dtype=torch.float64), nn.ReLU())
    with pytest.raises(ExportError, match=r"\[1\] \(ReLU\).*preserves convexity only"):
        to_cvxpy(concave, x)


def test_dc_form_and_tangents():
    """to_difference_of_concave always gives f − g; tangent planes touch at the point and lie
    above f and g elsewhere (concavity)."""
    module = _neuron(2, "tridiagonal")
    z = cp.Variable(3)
    dc = to_difference_of_concave(module, z)
    rng = np.random.default_rng(4)
    z0 = rng.standard_normal(3)
    z.value = z0
    f_tan, g_tan = dc.f_tangent(), dc.g_tangent()
    assert f_tan.is_affine() and g_tan.is_affine()
    assert abs(f_tan.value - dc.f.value) <= 1e-9 and abs(g_tan.value - dc.g.value) <= 1e-9
    for point in rng.standard_normal((5, 3)) * 2:
        z.value = point
        assert f_tan.value >= dc.f.value - 1e-9 and g_tan.value >= dc.g.value - 1e-9
    concave = to_difference_of_concave(_neuron(0), z)
    z.value = z0
    assert float(concave.g.value) == 0.0


def test_bad_inputs_are_named():
    module = _neuron(0)
    with pytest.raises(ValueError, match=r"z must have shape \(3,\), got \(4,\)"):
        to_cvxpy(module, cp.Variable(4))
    with pytest.raises(TypeError, match="z must be a cvxpy expression"):
        to_cvxpy(module, "z")
    with pytest.raises(ExportError, match="Tanh has no cvxpy export"):
        to_cvxpy(nn.Sequential(nn.Linear(3, 3).double(), nn.Tanh(), module), cp.Variable(3))
    middle = nn.Sequential(_neuron(2), nn.Linear(1, 1))
    with pytest.raises(ExportError, match="nn.Linear expects 1 inputs"):
        to_cvxpy(middle, cp.Variable(3))


class _NoKyFanProblem:
    """A problem that is not a signed sum of Ky Fan terms (e.g. a trust-region QP)."""


def test_a_module_that_cannot_be_exported_is_named():
    module = _neuron(0)
    module.solver.problem = _NoKyFanProblem()
    with pytest.raises(ExportError, match="_NoKyFanProblem.*no fantope_terms"):
        to_cvxpy(module, cp.Variable(3))
    assert issubclass(ExportError, ValueError)


def test_difference_of_concave_checks_its_parts():
    x = cp.Variable(2)
    with pytest.raises(ValueError, match="must both be concave"):
        DifferenceOfConcave(cp.sum_squares(x), cp.sum(x), None, None)
    with pytest.raises(ValueError, match="one shape"):
        DifferenceOfConcave(x, cp.sum(x), None, None)
    dc = DifferenceOfConcave(-cp.sum_squares(x), cp.min(x), None, None)
    x.value = np.array([1.0, 2.0])
    assert dc.value == pytest.approx(-6.0) and not dc.tangents_available
    with pytest.raises(ExportError, match="no tangent plane for g"):
        dc.g_tangent()


def test_public_names():
    assert on.to_cvxpy is to_cvxpy and on.DifferenceOfConcave is DifferenceOfConcave
