"""Estimator options of issues 15 and 17: tables with categorical columns, sample weights,
losses, transform / set_output, warm_start / partial_fit, the group penalty, the strength cap's
history, smoothing, spectral penalty, the one-cycle schedule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from optneuron.sklearn import _LOSSES, SpectralClassifier, SpectralRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FAST = dict(n_neurons=4, dim=3, max_iter=15, random_state=0)


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "city": rng.choice(["oslo", "rome", "lima", "kyiv"], n).astype(object),
        "kind": pd.Categorical(rng.choice(["a", "b"], n)),
        "flag": rng.random(n) > 0.5,
        "u": rng.uniform(size=n),
    })
    effect = df.city.map({"oslo": 2.0, "rome": -1.0, "lima": 0.5, "kyiv": 0.0}).to_numpy()
    y = np.sin(2 * df.x) + effect + (df.kind == "a") * df.u + 0.5 * df.flag + \
        0.05 * rng.normal(size=n)
    return df, np.asarray(y, dtype=float)


def test_dataframe_with_string_columns_fits_and_predicts_as_it_comes():
    df, y = _table()
    m = SpectralRegressor(**{**FAST, "max_iter": 60}).fit(df, y)
    assert list(m.feature_names_in_) == list(df.columns)
    assert m.score(df, y) > 0.8
    assert set(m.category_strengths_) == {"city", "kind", "flag"}
    assert set(m.category_strengths_["city"]) == {"kyiv", "lima", "oslo", "rome", "<unknown>"}
    # unseen categories and missing values at predict time: no crash, finite predictions
    new = df.head(4).copy()
    new["city"] = ["paris", None, "oslo", "tokyo"]
    assert np.all(np.isfinite(m.predict(new)))
    # a column list instead of dtypes; numpy object arrays work the same way
    m2 = SpectralRegressor(**FAST, categorical_features=["city", "kind", "flag"]).fit(df, y)
    m3 = SpectralRegressor(**FAST, categorical_features=[1, 2, 3]).fit(df.to_numpy(), y)
    np.testing.assert_allclose(m2.predict(df), m3.predict(df.to_numpy()), rtol=1e-10)


def test_category_jump_bounds_certify_category_changes():
    df, y = _table(seed=1)
    m = SpectralRegressor(**{**FAST, "max_iter": 40}).fit(df, y)
    cities = ["oslo", "rome", "lima", "kyiv", "never-seen"]
    base = df.head(100).copy()
    s = m.category_strengths_["city"]
    for a in cities:
        for b in cities:
            xa, xb = base.copy(), base.copy()
            xa["city"], xb["city"] = a, b
            change = np.abs(m.predict(xa) - m.predict(xb))
            bound = m.category_jump_bound("city", a, b)
            assert np.all(change <= bound * (1 + 1e-9) + 1e-12)
            sa, sb = (s.get(v, s["<unknown>"]) for v in (a, b))
            assert bound <= sa + sb + 1e-12
    # the categorical column's entry of feature_strengths_ bounds every change of it
    j = list(df.columns).index("city")
    assert m.feature_strengths_[j] >= max(m.category_jump_bound("city", a, b)
                                          for a in cities for b in cities) - 1e-12


def test_many_categories_are_hashed_into_bounded_memory():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n),
                       "id": [f"user{i}" for i in rng.integers(0, 10**5, n)]})
    y = df.x.to_numpy() + rng.normal(size=n) * 0.1
    m = SpectralRegressor(**FAST, max_categories=16).fit(df, y)
    table = m.model_.categories.table.weight
    assert table.shape[0] == 16 + 1
    assert np.all(np.isfinite(m.predict(df.assign(id="someone new"))))


@pytest.mark.parametrize("Estimator", [SpectralRegressor, SpectralClassifier])
def test_zero_weight_is_leaving_the_row_out(Estimator):
    df, y = _table(n=200, seed=2)
    target = y if Estimator is SpectralRegressor else (y > np.median(y))
    w = np.ones(len(y))
    w[::3] = 0
    a = Estimator(**FAST).fit(df, target, sample_weight=w)
    b = Estimator(**FAST).fit(df[w > 0], target[w > 0])
    out = "predict" if Estimator is SpectralRegressor else "decision_function"
    np.testing.assert_allclose(getattr(a, out)(df), getattr(b, out)(df), rtol=1e-10)


@pytest.mark.parametrize("Estimator", [SpectralRegressor, SpectralClassifier])
def test_integer_weight_is_repetition_with_one_full_batch(Estimator):
    # One full batch and no hold-out: the weighted objective equals the repeated data's
    # exactly (the module docstring of training: repetition in expectation over batches).
    df, y = _table(n=120, seed=3)
    target = y if Estimator is SpectralRegressor else (y > np.median(y))
    w = np.random.default_rng(0).integers(1, 4, len(y))
    options = {**FAST, "batch_size": 1000, "early_stopping": False}
    a = Estimator(**options).fit(df, target, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w)
    b = Estimator(**options).fit(df.iloc[rows], target[rows])
    out = "predict" if Estimator is SpectralRegressor else "decision_function"
    np.testing.assert_allclose(getattr(a, out)(df), getattr(b, out)(df), rtol=1e-7, atol=1e-9)


def test_losses_are_the_named_losses():
    g = torch.Generator().manual_seed(0)
    out, t = torch.randn(50, 1, generator=g, dtype=torch.float64), torch.randn(
        50, 1, generator=g, dtype=torch.float64)
    r = (out - t)[:, 0].numpy()
    np.testing.assert_allclose(_LOSSES["squared_error"](out, t).numpy(), r ** 2)
    np.testing.assert_allclose(_LOSSES["absolute_error"](out, t).numpy(), np.abs(r))
    huber = np.where(np.abs(r) <= 1, 0.5 * r ** 2, np.abs(r) - 0.5)
    np.testing.assert_allclose(_LOSSES["huber"](out, t).numpy(), huber)


def test_robust_losses_resist_outliers():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    clean = X[:, 0] ** 2 + X[:, 1]
    y = clean.copy()
    y[:30] += 40  # gross outliers on 10 % of the rows
    errors = {}
    for loss in ("squared_error", "absolute_error", "huber"):
        m = SpectralRegressor(**{**FAST, "max_iter": 60}, loss=loss).fit(X, y)
        errors[loss] = np.median(np.abs(m.predict(X[30:]) - clean[30:]))
    assert errors["absolute_error"] < errors["squared_error"]
    assert errors["huber"] < errors["squared_error"]


def test_transform_get_feature_names_out_set_output_and_pipeline():
    df, y = _table(seed=4)
    m = SpectralRegressor(**FAST).fit(df, y)
    T = m.transform(df)
    assert T.shape == (len(df), 4)
    with torch.no_grad():
        direct = m.model_.neurons(m._standardize(m._validate_X(df, reset=False)[0])).numpy()
    np.testing.assert_allclose(T, direct)
    names = m.get_feature_names_out()
    assert list(names) == [f"spectralregressor{i}" for i in range(4)]
    m.set_output(transform="pandas")
    frame = m.transform(df)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)
    pipe = make_pipeline(SpectralRegressor(**FAST), Ridge()).fit(df, y)
    assert pipe.score(df, y) > 0.5


def test_warm_start_continues_and_partial_fit_runs_one_epoch():
    df, y = _table(seed=5)
    m = SpectralRegressor(**{**FAST, "max_iter": 5, "early_stopping": False},
                          warm_start=True).fit(df, y)
    first_loss = m.loss_curve_[-1]
    state = {k: v.clone() for k, v in m.model_.state_dict().items()}
    m.fit(df, y)
    assert m.n_iter_ == 10 and len(m.loss_curve_) == 10
    assert m.loss_curve_[5] < m.loss_curve_[0]  # the second fit did not start over
    assert any(not torch.equal(state[k], v) for k, v in m.model_.state_dict().items())
    assert first_loss == m.loss_curve_[4]
    p = SpectralRegressor(**FAST)
    for epoch in range(3):
        p.partial_fit(df, y)
        assert p.n_iter_ == epoch + 1
    assert p.loss_curve_[-1] < p.loss_curve_[0]
    c = SpectralClassifier(**FAST)
    with pytest.raises(ValueError, match="classes"):
        c.partial_fit(df, y > 0)
    c.partial_fit(df[:50], y[:50] > 0, classes=[False, True])
    c.partial_fit(df[50:], y[50:] > 0)
    assert list(c.classes_) == [False, True] and c.n_iter_ == 2


def test_group_penalty_zeroes_a_pure_noise_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 / 2 + 0.05 * rng.normal(size=400)  # X[:, 2]: noise
    m = SpectralRegressor(**{**FAST, "max_iter": 60}, group_penalty=3.0).fit(X, y)
    assert list(m.selected_features_) == [True, True, False]
    assert m.feature_strengths_[2] == 0.0
    # Adam moves every coordinate by about the learning rate whatever its gradient, so the
    # threshold lr·μ must beat that noise: μ = 3 zeroes the noise feature (R² 0.84 here).
    assert m.score(X, y) > 0.75
    free = SpectralRegressor(**{**FAST, "max_iter": 60}).fit(X, y)
    assert free.selected_features_.all()


def test_converged_n_iter_history_and_options_reach_the_model():
    df, y = _table(seed=6)
    m = SpectralRegressor(**{**FAST, "max_iter": 200, "n_iter_no_change": 3},
                          smoothing=0.1, learning_rate="one_cycle").fit(df, y)
    assert m.converged_ and m.n_iter_ < 200
    assert np.asarray(m.feature_strengths_history_).shape == (m.n_iter_, df.shape[1])
    assert m.model_.spectral.smoothing == 0.1
    plain = SpectralRegressor(**{**FAST, "max_iter": 30, "early_stopping": False}).fit(df, y)
    small = SpectralRegressor(**{**FAST, "max_iter": 30, "early_stopping": False},
                              spectral_penalty=0.1).fit(df, y)
    assert small.model_.spectral.spectral_penalty() < plain.model_.spectral.spectral_penalty()


@pytest.mark.parametrize("name, value, match", [
    ("loss", "poisson", "loss"),
    ("learning_rate", "adaptive", "learning_rate"),
    ("max_feature_strength", -1.0, "max_feature_strength"),
    ("group_penalty", -1.0, "group_penalty"),
    ("categorical_features", "auto", "categorical_features"),
])
def test_options_are_validated(name, value, match):
    df, y = _table(n=50)
    with pytest.raises(ValueError, match=match):
        SpectralRegressor(**{name: value}).fit(df, y)


def test_fitted_estimator_with_categories_pickles_and_only_categorical_columns_work():
    import pickle

    df, y = _table(n=120, seed=7)
    m = SpectralClassifier(**FAST).fit(df, y > np.median(y))
    loaded = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(loaded.decision_function(df), m.decision_function(df))
    only = df[["city", "kind"]]
    r = SpectralRegressor(**FAST).fit(only, y)
    assert r.feature_strengths_.shape == (2,) and np.isfinite(r.predict(only)).all()
