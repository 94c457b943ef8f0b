"""The estimators' ``neuron="mixture"`` option builds mixtures and certifies them."""

import numpy as np
import pytest
import torch

from optneuron.nn import SpectralMixtureLayer
from optneuron.sklearn import SpectralRegressor


def test_mixture_regressor_fits_and_certifies():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    est = SpectralRegressor(neuron="mixture", n_neurons=3, dim=4, max_iter=15,
                            random_state=0).fit(X, y)
    assert isinstance(est.model_.spectral, SpectralMixtureLayer)
    assert est.score(X, y) > 0.3
    # the certificate is the mixture's own (Lidskii) bound, composed through the readout
    net = est.model_
    with torch.no_grad():
        Z = torch.from_numpy(rng.standard_normal((300, 3)))
        E = 0.3 * torch.from_numpy(rng.standard_normal((300, 3)))
        change = (net(Z + E) - net(Z)).abs()[:, 0]
    assert bool((change <= E.abs() @ net.feature_bounds()[0] + 1e-10).all())


def test_unknown_neuron_is_refused():
    with pytest.raises(ValueError, match="neuron"):
        SpectralRegressor(neuron="median").fit(np.zeros((10, 2)), np.zeros(10))


@pytest.mark.parametrize("neuron", ["eigenvalue", "mixture"])
def test_gap_quantiles_history_is_recorded_per_epoch_against_numpy(neuron):
    """One (3, n_neurons) row per epoch; the last equals numpy's quantiles of the smallest used
    gap of the final model's matrices on the recorded rows (category matrices included)."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.standard_normal(120), "b": rng.standard_normal(120),
                       "c": pd.Categorical(rng.choice(["x", "y", "z"], 120))})
    y = df["a"].to_numpy() + (df["c"] == "y").to_numpy()
    est = SpectralRegressor(neuron=neuron, n_neurons=2, dim=4, max_iter=4,
                            n_iter_no_change=99, random_state=0).fit(df, y)
    history = np.asarray(est.gap_quantiles_history_)
    assert history.shape == (est.n_iter_, 3, 2)
    with torch.no_grad():
        A = est.model_.matrices(est._gap_inputs).to(torch.float64).numpy()
        used = est.model_.spectral.mixing_weights().numpy() != 0 if neuron == "mixture" else \
            np.eye(4, dtype=bool)[[est.model_.spectral.index] * 2]
    lam = np.linalg.eigvalsh(A)  # (rows, neurons, 4)
    d = np.diff(lam, axis=-1)
    inf = np.full(lam.shape[:-1] + (1,), np.inf)
    gaps = np.minimum(np.concatenate([inf, d], -1), np.concatenate([d, inf], -1))
    smallest = np.where(used, gaps, np.inf).min(-1)
    np.testing.assert_allclose(history[-1], np.quantile(smallest, [0.1, 0.5, 0.9], axis=0),
                               rtol=1e-10)
    assert np.all(history > 0)
