"""optneuron.plot: each helper draws what it says, reuses a given Axes, and names bad arguments."""

import sys

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from optneuron import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _pencil(n=4, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    L = rng.standard_normal((n, n))
    return A + A.T, L @ L.T  # B ⪰ 0


def test_pencil_eigenvalues_draws_every_eigenvalue_and_they_increase_for_psd_B():
    A, B = _pencil()
    ax = plot.pencil_eigenvalues(A, B, (-2, 2), num=50, highlight=[0, -1])
    lines = ax.get_lines()
    assert len(lines) == 4
    for k, line in enumerate(lines):
        x, y = line.get_data()
        expected = np.linalg.eigvalsh(A[None] + x[:, None, None] * B[None])[:, k]
        np.testing.assert_allclose(y, expected, atol=1e-12)
        assert (np.diff(y) >= -1e-12).all()  # B ⪰ 0 ⇒ nondecreasing
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["λ_0", "λ_3"]


def test_pencil_eigenvalues_accepts_tensors_and_reuses_ax():
    A, B = _pencil()
    fig, ax = plt.subplots()
    out = plot.pencil_eigenvalues(torch.tensor(A), torch.tensor(B), ax=ax, num=10)
    assert out is ax and out.figure is fig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(A=np.ones((2, 3)), B=np.eye(2)), "A must be"),
        (dict(A=np.eye(2), B=np.eye(3)), "same shape"),
        (dict(A=np.eye(2), B=np.eye(2), interval=(1, 0)), "interval"),
        (dict(A=np.eye(2), B=np.eye(2), num=1), "num"),
        (dict(A=np.eye(2), B=np.eye(2), highlight=5), "highlight"),
        (dict(A=np.full((2, 2), np.nan), B=np.eye(2)), "non-finite"),
    ],
)
def test_pencil_eigenvalues_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot.pencil_eigenvalues(**kwargs)


@pytest.mark.parametrize("kind", ["surface", "contour"])
def test_eigen_surface_kinds(kind):
    A, B = _pencil()
    ax = plot.eigen_surface(A, B, -B, index=0, num=8, kind=kind)
    assert ax.get_xlabel() == "x"


def test_eigen_surface_rejects_bad_index_kind_and_2d_axes():
    A, B = _pencil()
    with pytest.raises(ValueError, match="index"):
        plot.eigen_surface(A, B, B, index=4)
    with pytest.raises(ValueError, match="kind"):
        plot.eigen_surface(A, B, B, kind="wire")
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D"):
        plot.eigen_surface(A, B, B, ax=ax)


def test_response_curve_lies_inside_its_cone():
    def model(Z):  # |∂f/∂z_1| ≤ 2
        return torch.sin(2 * Z[:, 1]) + Z[:, 0]

    z0 = np.array([0.5, 0.3])
    ax = plot.response_curve(model, z0, 1, bound=2.0, num=41, label="sin")
    x, y = ax.get_lines()[0].get_data()
    f0 = np.sin(0.6) + 0.5
    assert (np.abs(y - f0) <= 2.0 * np.abs(x - 0.3) + 1e-9).all()
    assert "L = 2" in ax.get_legend().get_texts()[1].get_text()


def test_response_curve_takes_the_bound_from_feature_bounds():
    class Neuron(torch.nn.Module):
        def forward(self, Z):
            return 3 * Z[:, 0]

        def feature_bounds(self):
            return torch.tensor([3.0, 0.0])

    ax = plot.response_curve(Neuron(), torch.zeros(2), 0, num=5)
    assert "L = 3" in ax.get_legend().get_texts()[1].get_text()


def test_response_curve_errors_name_the_argument():
    def f(Z):
        return Z.sum(-1)

    with pytest.raises(ValueError, match="feature"):
        plot.response_curve(f, np.zeros(2), 2, bound=1)
    with pytest.raises(ValueError, match="z0"):
        plot.response_curve(f, np.zeros((2, 2)), 0, bound=1)
    with pytest.raises(ValueError, match="bound is required"):
        plot.response_curve(f, np.zeros(2), 0)
    with pytest.raises(ValueError, match="bound"):
        plot.response_curve(f, np.zeros(2), 0, bound=-1)
    with pytest.raises(ValueError, match="scalar outputs"):
        plot.response_curve(lambda Z: Z, np.zeros(2), 0, bound=1)


def test_training_curves_mapping_and_sequence():
    ax = plot.training_curves({"train": [3, 2, 1], "valid": [4, 3, 2.5]})
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"
    ax = plot.training_curves({"train": [3, 2, 1], "best_epoch": 3})
    assert len(ax.get_lines()) == 1  # the scalar is not a curve
    ax = plot.training_curves([1.0, -1.0], logy=True)
    assert ax.get_yscale() == "linear"  # a non-positive value keeps the axis linear
    with pytest.raises(ValueError, match="history"):
        plot.training_curves({"train": []})


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"optneuron\[plot\]"):
        plot.training_curves([1.0, 2.0])


def test_feature_strengths_history_draws_one_line_per_feature_and_the_cap():
    H = np.array([[1.0, 0.5, 0.0], [1.2, 0.4, 0.1], [0.9, 0.6, 0.2]])
    ax = plot.feature_strengths_history(H, names=["a", "b", "c"], cap=1.0)
    lines = ax.get_lines()
    assert len(lines) == 4  # three features and the cap
    for i, line in enumerate(lines[:3]):
        x, y = line.get_data()
        np.testing.assert_array_equal(x, [1, 2, 3])
        np.testing.assert_array_equal(y, H[:, i])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c", "cap"]

    class Fitted:  # anything carrying the estimator's attributes
        feature_strengths_history_ = H.tolist()
        feature_names_in_ = np.array(["u", "v", "w"], dtype=object)

    ax = plot.feature_strengths_history(Fitted())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["u", "v", "w"]
    with pytest.raises(ValueError, match="names"):
        plot.feature_strengths_history(H, names=["a"])
    with pytest.raises(ValueError, match="history"):
        plot.feature_strengths_history(np.zeros((0, 3)))


def test_gap_history_draws_loss_and_gap_quantiles():
    losses = [1.0, 0.5, 0.2]
    gaps = [[0.1, 0.3, 0.6], [0.05, 0.2, 0.5], [0.01, 0.1, 0.4]]
    loss_ax, gap_ax = plot.gap_history(losses, gaps, q=(0.1, 0.5, 0.9))
    assert len(loss_ax.get_lines()) == 1 and len(gap_ax.get_lines()) == 3
    np.testing.assert_allclose(gap_ax.get_lines()[0].get_data()[1], [0.1, 0.05, 0.01])
    assert gap_ax.get_yscale() == "log"
    layer_gaps = np.stack([np.asarray(gaps), 2 * np.asarray(gaps)], -1)  # (epochs, q, out)
    _, gap_ax = plot.gap_history(losses, layer_gaps)
    np.testing.assert_allclose(gap_ax.get_lines()[1].get_data()[1], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="gaps must have shape"):
        plot.gap_history(losses, gaps, q=(0.5,))
