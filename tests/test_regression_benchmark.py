"""benchmarks/regression_vs_linear.py runs end to end at tiny size, tables with string columns
included (the measurement itself is taken by running the module)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import regression_vs_linear as bench

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_categorical_friedman_table_has_string_columns_and_signal():
    (X, y, X_test, y_test), = bench.categorical_friedman_splits(n=400)
    assert X.shape == (200, 7) and len(y_test) == 200
    assert str(X.dtypes["shop"]) == "category" and str(X.dtypes["tier"]) == "category"
    assert np.isfinite(y).all()


def test_evaluate_runs_every_model_on_a_tiny_table_with_string_columns():
    def tiny():
        (X, y, X_test, y_test), = bench.categorical_friedman_splits(n=240)
        yield X, y, X_test, y_test

    rows = bench.evaluate(tiny, seeds=[0])
    assert set(rows) == {"LinearRegression", "SpectralRegressor()", "MLPRegressor",
                         "HistGradientBoosting"}
    for mean, std, seconds, _ in rows.values():
        assert np.isfinite(mean) and std == 0.0 and seconds > 0
    # the categories carry most of the signal here: a model that ignored them would be near 0
    assert rows["SpectralRegressor()"][0] > 0.3


def test_unknown_table_is_refused():
    with pytest.raises(SystemExit, match="tables"):
        bench.main(["--tables", "nope"])
