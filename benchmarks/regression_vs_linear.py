"""Held-out R² of SpectralRegressor() (defaults) against LinearRegression and an MLP.

    python benchmarks/regression_vs_linear.py [--seeds 3]

Bundled data only (no downloads):
* Friedman #1 (``make_friedman1``, noise 1.0, 10 features of which 5 matter): 2000 rows to
  fit, 2000 held out; ``y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4 + noise``;
* diabetes (``load_diabetes``, 442 rows, 10 features): 5-fold cross-validation.

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
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from optneuron.pencils import make_pencil
from optneuron.sklearn import SpectralRegressor


def spectral_parameter_count(n_features: int) -> int:
    m = SpectralRegressor()
    pencil = make_pencil(n_features, m.dim, m.structure, out_features=m.n_neurons)
    count = sum(p.numel() for p in pencil.parameters())  # a dense A_0 = diag(μ) costs dim
    return count + (m.n_neurons + 1) + n_features  # + readout (with bias) + linear skip


def mlp_matching(n_features: int, seed: int):
    # one hidden layer of h units: (n_features + 1) h + h + 1 parameters
    h = max(1, round((spectral_parameter_count(n_features) - 1) / (n_features + 2)))
    mlp = MLPRegressor(hidden_layer_sizes=(h,), early_stopping=True, max_iter=2000,
                       random_state=seed)
    model = TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp),
                                       transformer=StandardScaler())
    return model, (n_features + 1) * h + h + 1


def models(n_features: int, seed: int):
    mlp, mlp_params = mlp_matching(n_features, seed)
    return {
        "LinearRegression": (LinearRegression(), n_features + 1),
        "SpectralRegressor()": (SpectralRegressor(random_state=seed),
                                spectral_parameter_count(n_features)),
        "MLPRegressor": (mlp, mlp_params),
    }


def friedman_splits():
    X, y = make_friedman1(n_samples=4000, noise=1.0, random_state=0)
    yield X[:2000], y[:2000], X[2000:], y[2000:]


def diabetes_splits():
    X, y = load_diabetes(return_X_y=True)
    for train, test in KFold(5, shuffle=True, random_state=0).split(X):
        yield X[train], y[train], X[test], y[test]


def evaluate(splits, seeds):
    first = next(iter(splits()))
    n_features = first[0].shape[1]
    rows = {}
    for name in models(n_features, 0):
        scores, times = [], []
        for seed in seeds:
            model, n_params = models(n_features, seed)[name]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0 .. seeds-1")
    args = parser.parse_args()
    seeds = range(args.seeds)
    warnings.simplefilter("ignore", ConvergenceWarning)
    for title, splits in [
        ("Friedman #1 (noise 1.0): 2000 train / 2000 held out", friedman_splits),
        ("diabetes (442 rows): 5-fold CV", diabetes_splits),
    ]:
        print(f"\n{title}; mean ± std over {args.seeds} seed(s)")
        print(f"{'model':<22}{'params':>8}{'held-out R²':>18}{'fit time':>11}")
        for name, (mean, std, seconds, n_params) in evaluate(splits, seeds).items():
            print(f"{name:<22}{n_params:>8}{mean:>12.4f} ± {std:.4f}{seconds:>10.2f}s")


if __name__ == "__main__":
    main()
