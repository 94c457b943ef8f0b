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
