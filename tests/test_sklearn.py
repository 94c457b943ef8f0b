"""scikit-learn estimators: the estimator contract, certificates, determinism, accuracy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_friedman1
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from optneuron.sklearn import SpectralClassifier, SpectralRegressor

# Short max_iter keeps these tests fast; the warning it triggers is tested once, explicitly.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# Every check passes with the defaults; none is skipped (pandas / array-API checks skip
# themselves when those libraries are missing).
# One documented exception: a weight is a repetition only in expectation over the random
# minibatches and hold-out split (exactly with one full batch and no hold-out:
# tests/test_sklearn_options.py), so the check's exact equivalence cannot hold.
_WEIGHTS = ("repetition in expectation over minibatches and the validation split; "
            "exact with one full batch: tests/test_sklearn_options.py")


@parametrize_with_checks(
    [SpectralRegressor(), SpectralClassifier()],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS},
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=1400, noise=1.0, random_state=0)
    return X[:700], y[:700], X[700:], y[700:]


@pytest.fixture(scope="module")
def fitted_regressor(friedman):
    X, y, _, _ = friedman
    return SpectralRegressor(random_state=0).fit(X, y)


def test_regressor_beats_linear_regression(friedman, fitted_regressor):
    X, y, X_test, y_test = friedman
    linear = LinearRegression().fit(X, y).score(X_test, y_test)
    spectral = fitted_regressor.score(X_test, y_test)
    # Friedman #1 (noise 1, 700 rows): linear 0.74, the spectral defaults 0.93 (seed 0).
    assert spectral > linear + 0.1, (spectral, linear)


def test_learned_attributes(friedman, fitted_regressor):
    X, _, _, _ = friedman
    m = fitted_regressor
    assert m.n_features_in_ == X.shape[1]
    assert m.feature_strengths_.shape == (X.shape[1],)
    assert np.all(m.feature_strengths_ >= 0)
    assert 1 <= m.n_iter_ == len(m.loss_curve_) == len(m.validation_loss_curve_)
    assert m.best_loss_ == min(m.validation_loss_curve_)
    # Friedman #1: only features 0..4 matter; the certificate should say so.
    assert m.feature_strengths_[:5].mean() > m.feature_strengths_[5:].mean()


def test_feature_strengths_certify_single_feature_changes(friedman, fitted_regressor):
    X, _, _, _ = friedman
    m = fitted_regressor
    rng = np.random.default_rng(0)
    x = X[:200]
    base = m.predict(x)
    for i in range(X.shape[1]):
        t = rng.normal(scale=3 * X[:, i].std(), size=len(x))
        moved = x.copy()
        moved[:, i] += t
        change = np.abs(m.predict(moved) - base)
        assert np.all(change <= m.feature_strengths_[i] * np.abs(t) * (1 + 1e-9) + 1e-9)
    # several features at once: Σ_i strength_i |ε_i|
    eps = rng.normal(size=x.shape) * X.std(axis=0)
    change = np.abs(m.predict(x + eps) - base)
    assert np.all(change <= np.abs(eps) @ m.feature_strengths_ * (1 + 1e-9) + 1e-9)


def test_classifier_strengths_bound_decision_function():
    X, y = make_classification(300, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    X = X * np.array([1, 10, 100, 0.1, 1, 1])  # original units must be honoured
    m = SpectralClassifier(random_state=0, max_iter=30).fit(X, y)
    assert m.feature_strengths_.shape == (3, 6)
    rng = np.random.default_rng(1)
    eps = rng.normal(size=X.shape) * X.std(axis=0)
    change = np.abs(m.decision_function(X + eps) - m.decision_function(X))
    bound = np.abs(eps) @ m.feature_strengths_.T
    assert np.all(change <= bound * (1 + 1e-9) + 1e-9)


def test_refit_with_same_seed_is_bit_identical(friedman):
    X, y, X_test, _ = friedman
    a = SpectralRegressor(random_state=3, max_iter=5).fit(X[:300], y[:300])
    b = SpectralRegressor(random_state=3, max_iter=5).fit(X[:300], y[:300])
    c = SpectralRegressor(random_state=4, max_iter=5).fit(X[:300], y[:300])
    assert np.array_equal(a.predict(X_test), b.predict(X_test))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.predict(X_test), c.predict(X_test))


def test_fit_leaves_torch_global_state_alone(friedman):
    X, y, _, _ = friedman
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SpectralRegressor(random_state=0, max_iter=2).fit(X[:100], y[:100])
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_outputs(n_classes):
    X, y = make_classification(200, n_features=5, n_informative=3, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=0)
    labels = np.array(["ant", "bee", "cat"])[y]
    m = SpectralClassifier(random_state=0).fit(X, labels)
    assert list(m.classes_) == sorted(set(labels))
    proba = m.predict_proba(X)
    assert proba.shape == (200, n_classes)
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_allclose(m.predict_log_proba(X), np.log(proba), rtol=1e-9, atol=1e-12)
    decision = m.decision_function(X)
    assert decision.shape == ((200,) if n_classes == 2 else (200, n_classes))
    assert np.all(m.predict(X) == m.classes_[proba.argmax(1)])
    assert m.score(X, labels) > 0.85


def test_multioutput_regression(friedman):
    X, y, _, _ = friedman
    Y = np.stack([y, -2 * y + 5], axis=1)[:300]
    m = SpectralRegressor(random_state=0, max_iter=20).fit(X[:300], Y)
    assert m.predict(X[:10]).shape == (10, 2)
    assert m.feature_strengths_.shape == (2, X.shape[1])


def test_pickle_round_trip(fitted_regressor, friedman):
    _, _, X_test, _ = friedman
    clone = pickle.loads(pickle.dumps(fitted_regressor))
    assert np.array_equal(clone.predict(X_test), fitted_regressor.predict(X_test))


def test_structure_and_index_options(friedman):
    X, y, _, _ = friedman
    for kw in ({"structure": "tridiagonal", "dim": 5}, {"index": None}, {"index": 0}):
        m = SpectralRegressor(random_state=0, max_iter=3, **kw).fit(X[:100], y[:100])
        assert np.all(np.isfinite(m.predict(X[:10])))


@pytest.mark.parametrize(
    "params, error",
    [
        ({"n_neurons": 0}, ValueError),
        ({"dim": 2.5}, TypeError),
        ({"index": 4}, ValueError),
        ({"structure": "sparse"}, ValueError),
        ({"alpha": -1.0}, ValueError),
        ({"learning_rate_init": 0.0}, ValueError),
        ({"validation_fraction": 1.0}, ValueError),
        ({"early_stopping": "yes"}, TypeError),
        ({"max_iter": 0}, ValueError),
    ],
)
def test_bad_parameters_raise_in_fit_not_init(params, error):
    model = SpectralRegressor(**params)  # no validation in __init__
    with pytest.raises(error, match=next(iter(params))):
        model.fit(np.zeros((10, 2)), np.arange(10.0))


def test_unfitted_and_one_class_errors():
    with pytest.raises(NotFittedError):
        SpectralRegressor().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 classes"):
        SpectralClassifier().fit(np.zeros((5, 2)), np.ones(5))


def test_convergence_warning_and_verbose_progress_bar(capsys, friedman):
    X, y, _, _ = friedman
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SpectralRegressor(random_state=0, max_iter=2, verbose=True).fit(X[:100], y[:100])
    assert "SpectralRegressor" in capsys.readouterr().err  # tqdm writes to stderr


@pytest.mark.parametrize("Estimator", [SpectralRegressor, SpectralClassifier])
def test_parameters_are_declared_and_keyword_only(Estimator):
    import inspect

    params = inspect.signature(Estimator.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")
    constraints = Estimator()._parameter_constraints
    assert set(constraints) == set(Estimator().get_params())
    with pytest.raises(TypeError):
        Estimator(8)  # positional: refused
    # the structures come from the pencil registry (those that need no option)
    assert {"dense", "tridiagonal"} <= constraints["structure"][0].options
    assert "banded" not in constraints["structure"][0].options
