"""Held-out R² of SpectralRegressor() (defaults) against LinearRegression, an MLP and
gradient-boosted trees, on numeric tables and on tables with categorical (string) columns.

    python -m benchmarks.regression_vs_linear [--seeds 3] [--tables friedman,diabetes,...]

Bundled data only (no downloads):
* Friedman #1 (``make_friedman1``, noise 1.0, 10 features of which 5 matter): 2000 rows to
  fit, 2000 held out; ``y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4 + noise``;
* diabetes (``load_diabetes``, 442 rows, 10 features): 5-fold cross-validation;
* penguins (the ``palmerpenguins`` package's CSV, 333 complete rows): body mass from species,
  island, sex (strings) and three measurements; 5-fold cross-validation;
* categorical Friedman (generated here, seeded): Friedman #1's five informative features plus
  two string columns, ``shop`` (20 categories, an additive effect and a slope on x3 that
  depends on the shop) and ``tier`` (3 categories, a multiplicative effect); 2000 + 2000 rows.

On the tables with string columns, SpectralRegressor and HistGradientBoostingRegressor take the
DataFrame as it is (categorical columns from their dtype); linear regression and the MLP get
one-hot columns.

The MLP (one hidden layer, inputs and target standardized like ours, sklearn defaults
otherwise plus early stopping) has about as many parameters as SpectralRegressor().
Each model is fit with ``random_state = seed`` for each seed; the table shows mean ± std
of R² over the seeds and the mean fit time.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor, make_column_transformer
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from optneuron.pencils import make_pencil
from optneuron.sklearn import SpectralRegressor


def spectral_parameter_count(n_features: int) -> int:
    m = SpectralRegressor()
    pencil = make_pencil(n_features, m.dim, m.structure, out_features=m.n_neurons)
    count = sum(p.numel() for p in pencil.parameters())  # a dense A_0 = diag(μ) costs dim
    return count + (m.n_neurons + 1) + n_features  # + readout (with bias) + linear skip


def _scaled(categorical):
    """Standardize numeric columns; one-hot the ``categorical`` ones (if any)."""
    if not categorical:
        return StandardScaler()
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), categorical), remainder=StandardScaler())


def mlp_matching(n_features: int, seed: int, categorical=()):
    # one hidden layer of h units: (n_features + 1) h + h + 1 parameters
    h = max(1, round((spectral_parameter_count(n_features) - 1) / (n_features + 2)))
    mlp = MLPRegressor(hidden_layer_sizes=(h,), early_stopping=True, max_iter=2000,
                       random_state=seed)
    model = TransformedTargetRegressor(make_pipeline(_scaled(categorical), mlp),
                                       transformer=StandardScaler())
    return model, (n_features + 1) * h + h + 1


def models(n_features: int, seed: int, categorical=()):
    mlp, mlp_params = mlp_matching(n_features, seed, categorical)
    linear = make_pipeline(_scaled(categorical), LinearRegression()) if categorical \
        else LinearRegression()
    return {
        "LinearRegression": (linear, n_features + 1),
        "SpectralRegressor()": (SpectralRegressor(random_state=seed),
                                spectral_parameter_count(n_features)),
        "MLPRegressor": (mlp, mlp_params),
        "HistGradientBoosting": (HistGradientBoostingRegressor(random_state=seed), 0),
    }


def friedman_splits():
    X, y = make_friedman1(n_samples=4000, noise=1.0, random_state=0)
    yield X[:2000], y[:2000], X[2000:], y[2000:]


def diabetes_splits():
    X, y = load_diabetes(return_X_y=True)
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        yield X[train], y[train], X[test], y[test]


def penguins_splits():
    from palmerpenguins import load_penguins

    data = load_penguins().dropna()
    cats = ["species", "island", "sex"]
    data = data.astype({c: "category" for c in cats})
    X = data[cats + ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]]
    y = data["body_mass_g"].to_numpy(dtype=float)
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        yield X.iloc[train], y[train], X.iloc[test], y[test]


def categorical_friedman_splits(n=4000):
    import pandas as pd

    rng = np.random.default_rng(0)
    X, y = make_friedman1(n_samples=n, n_features=5, noise=1.0, random_state=0)
    shop = rng.integers(0, 20, n)
    tier = rng.integers(0, 3, n)
    shop_effect, shop_slope = rng.normal(0, 3, 20), rng.normal(0, 5, 20)
    y = (y + shop_effect[shop] + shop_slope[shop] * (X[:, 3] - 0.5)) * (1 + 0.25 * (tier - 1))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["shop"] = pd.Categorical([f"shop{i:02d}" for i in shop])
    frame["tier"] = pd.Categorical(np.array(["bronze", "silver", "gold"])[tier])
    half = n // 2
    yield frame.iloc[:half], y[:half], frame.iloc[half:], y[half:]


TABLES = {
    "friedman": ("Friedman #1 (noise 1.0): 2000 train / 2000 held out", friedman_splits),
    "diabetes": ("diabetes (442 rows): 5-fold CV", diabetes_splits),
    "penguins": ("penguins body mass (333 rows, 3 string columns): 5-fold CV", penguins_splits),
    "categorical_friedman": ("categorical Friedman (2 string columns, 20 + 3 categories): "
                             "2000 train / 2000 held out", categorical_friedman_splits),
}


def evaluate(splits, seeds):
    first = next(iter(splits()))
    n_features = first[0].shape[1]
    dtypes = getattr(first[0], "dtypes", None)
    categorical = [] if dtypes is None else [
        c for c, d in dtypes.items() if str(d) in ("category", "object", "bool")]
    rows = {}
    for name in models(n_features, 0, categorical):
        scores, times = [], []
        for seed in seeds:
            model, n_params = models(n_features, seed, categorical)[name]
            # the counts above treat every column as one number: not so for string columns
            n_params = 0 if categorical else n_params
            fold_scores = []
            for X, y, X_test, y_test in splits():
                fitted = clone(model)
                start = time.perf_counter()
                fitted.fit(X, y)
                times.append(time.perf_counter() - start)
                fold_scores.append(r2_score(y_test, fitted.predict(X_test)))
            scores.append(np.mean(fold_scores))
        rows[name] = (np.mean(scores), np.std(scores), np.mean(times), n_params)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0 .. seeds-1")
    parser.add_argument("--tables", default=",".join(TABLES),
                        help=f"comma-separated subset of {', '.join(TABLES)}")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    warnings.simplefilter("ignore", ConvergenceWarning)
    for key in args.tables.split(","):
        if key not in TABLES:
            raise SystemExit(f"--tables: unknown table {key!r}; choose from {', '.join(TABLES)}")
        title, splits = TABLES[key]
        print(f"\n{title}; mean ± std over {args.seeds} seed(s)")
        print(f"{'model':<22}{'params':>8}{'held-out R²':>18}{'fit time':>11}")
        for name, (mean, std, seconds, n_params) in evaluate(splits, seeds).items():
            shown = n_params if n_params else "-"
            print(f"{name:<22}{shown:>8}{mean:>12.4f} ± {std:.4f}{seconds:>10.2f}s")


if __name__ == "__main__":
    main()
