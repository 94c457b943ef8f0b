"""Persistence: state_dicts round-trip bit-exactly, whole models survive ``torch.save``, and the
scikit-learn estimators pickle with identical predictions."""

from __future__ import annotations

import copy
import io
import pickle

import numpy as np
import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP
from optneuron.nn import SpectralLayer, SpectralNeuron

STRUCTURES = [
    dict(structure="dense"),
    dict(structure="tridiagonal"),
    dict(structure="banded", bandwidth=2),
    dict(structure="dense", monotone={0: 1, 2: -1}),
    dict(structure="tridiagonal", monotone={1: 1}, smoothing=0.05),
]


def _roundtrip_state(module: torch.nn.Module) -> dict:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _models():
    torch.manual_seed(0)
    for kw in STRUCTURES:
        yield f"neuron-{kw}", SpectralNeuron(3, 5, index=-1, **kw)
        yield f"layer-{kw}", SpectralLayer(3, 4, 5, index=0, **kw)
    yield "hybrid", torch.nn.Sequential(
        torch.nn.Linear(3, 3), SpectralLayer(3, 4, 4, structure="tridiagonal"),
        torch.nn.Tanh(), SpectralNeuron(4, 3, index=-1),
    )


MODELS = list(_models())

@pytest.mark.parametrize("name, model", MODELS, ids=[m[0] for m in MODELS])
def test_state_dict_roundtrip_bit_exact(name, model):
    state = model.state_dict()
    loaded = _roundtrip_state(model)
    assert state.keys() == loaded.keys()
    for key in state:
        assert state[key].dtype == loaded[key].dtype
        assert torch.equal(state[key], loaded[key]), key
    # a fresh model of the same shape, different init, loads it and computes the same
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(1.0)
    fresh.load_state_dict(loaded)
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fresh(z), model(z))


@pytest.mark.parametrize("name, model", MODELS, ids=[m[0] for m in MODELS])
def test_whole_model_torch_save(name, model, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)  # a whole module is a pickle, not weights
    z = torch.randn(7, 3, dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(loaded(z), model(z))
    # gradients too: the loaded model trains like the original
    loaded(z).sum().backward()
    model.zero_grad()
    model(z).sum().backward()
    for (k, p), q in zip(model.named_parameters(), loaded.parameters()):
        assert torch.equal(p.grad, q.grad), k


@pytest.mark.parametrize("backend", ["eigen", "sdp"])
@pytest.mark.parametrize("problem", [SphereQP(1), KyFan(2, largest=True), SphereQP(0, 0.1)])
def test_optlayer_pickles(problem, backend):
    layer = OptLayer(problem, backend)
    loaded = pickle.loads(pickle.dumps(layer))
    assert loaded.problem == problem and loaded.backend.name == backend
    A = torch.randn(2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(A).value, layer(A).value)


def _data(classification: bool):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(80)
    return X, ((y > 0).astype(int) if classification else y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_estimators_pickle(kind, tmp_path):
    from optneuron.sklearn import SpectralClassifier, SpectralRegressor

    cls = SpectralClassifier if kind == "classifier" else SpectralRegressor
    X, y = _data(kind == "classifier")
    est = cls(n_neurons=3, dim=3, max_iter=5, early_stopping=False, random_state=0).fit(X, y)
    for blob in (pickle.dumps(est), None):
        if blob is None:  # through a file, as a user would do with joblib/pickle
            path = tmp_path / "est.pkl"
            path.write_bytes(pickle.dumps(est))
            blob = path.read_bytes()
        loaded = pickle.loads(blob)
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
        if kind == "classifier":
            np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
