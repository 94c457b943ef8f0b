"""``optneuron demo``: train a small hybrid network with monotone spectral neurons on a real
dataset that ships with scikit-learn, and show what it learned and what is certified.

The network is ``optneuron.hybrid.HybridNet`` (monotone by construction in the declared
features; its per-feature certificate ``L_i`` with ``|f(z + t e_i) − f(z)| ≤ L_i |t|`` is
``hybrid.feature_certificate``). Here: a registry of bundled datasets with monotone declarations
a domain expert would sign off on, a 75/25 split, the comparison with a linear model and a
same-size MLP, the certificate in original units next to the largest slope seen, a
monotonicity sweep, and the figure.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .hybrid import HybridNet, feature_certificate, fit_hybrid, monotonicity_check
from .validation import check_int, check_real

__all__ = ["DATASETS", "Dataset", "DatasetSource", "DemoResult", "load_dataset", "run_demo"]

_DTYPE = torch.float64


@dataclass(frozen=True)
class DatasetSource:
    """Where a bundled dataset comes from (a ``sklearn.datasets`` loader) and what it declares."""

    loader: str
    task: str  # "regression" or "classification"
    monotone: dict  # feature name → +1 / −1, with the reason in the docstring below
    target: str


# Monotone declarations a domain expert would sign off on:
# diabetes: higher BMI, blood pressure and (log) serum triglycerides s5 mean faster disease
#   progression one year on (Efron et al. 2004 find these among the strongest effects).
# breast_cancer: the target is 1 = benign; larger, more concave tumours are more often
#   malignant, so the benign logit is nonincreasing in worst radius and worst concave points.
DATASETS = {
    "diabetes": DatasetSource("load_diabetes", "regression", {"bmi": 1, "bp": 1, "s5": 1},
                      "disease progression"),
    "breast_cancer": DatasetSource("load_breast_cancer", "classification",
                           {"worst radius": -1, "worst concave points": -1}, "logit(benign)"),
}


@dataclass
class Dataset:
    """A bundled dataset: features, target, names, task, and monotone declarations."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    task: str
    monotone: dict  # column index → sign
    target: str


def load_dataset(name: str) -> Dataset:
    """One of ``DATASETS``, read from the files scikit-learn installs (no download)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    import sklearn.datasets

    spec = DATASETS[name]
    bunch = getattr(sklearn.datasets, spec.loader)()
    names = [str(f) for f in bunch.feature_names]
    monotone = {names.index(f): s for f, s in spec.monotone.items()}
    return Dataset(name, np.asarray(bunch.data, dtype=np.float64),
                   np.asarray(bunch.target, dtype=np.float64), names, spec.task, monotone,
                   spec.target)


@dataclass
class DemoResult:
    """What ``run_demo`` computed: metric rows, certificate, monotonicity checks, figure."""

    dataset: str
    task: str
    metrics: dict  # model name → {metric: value, "params": n}
    certificate: list  # (feature, declared sign or 0, bound in original units, observed slope)
    monotone: dict  # feature → {model → check dict}
    history: dict
    figure: Path | None
    seconds: float
    table: str = ""
    lines: list = field(default_factory=list)


def _baselines(task: str, hidden: int, seed: int):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "regression":
        mlp = MLPRegressor(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=2000,
                           early_stopping=True, n_iter_no_change=50, random_state=seed)
        return {
            "linear": make_pipeline(StandardScaler(), LinearRegression()),
            "MLP": TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp),
                                              transformer=StandardScaler()),
        }
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=2000,
                        early_stopping=True, n_iter_no_change=50, random_state=seed)
    return {
        "linear": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "MLP": make_pipeline(StandardScaler(), mlp),
    }


def _scores(task: str, y: np.ndarray, out: np.ndarray) -> dict:
    """Regression: RMSE, MAE, R²; classification (``out`` = P(class 1)): accuracy, log-loss,
    ROC AUC."""
    from sklearn import metrics

    if task == "regression":
        return {"RMSE": math.sqrt(metrics.mean_squared_error(y, out)),
                "MAE": metrics.mean_absolute_error(y, out), "R2": metrics.r2_score(y, out)}
    p = np.clip(out, 1e-12, 1 - 1e-12)
    return {"accuracy": metrics.accuracy_score(y, p > 0.5), "log-loss": metrics.log_loss(y, p),
            "ROC AUC": metrics.roc_auc_score(y, p)}


def _format_table(metrics: dict) -> str:
    names = next(iter(metrics.values())).keys()
    head = f"{'model':<8}" + "".join(f"{k:>10}" for k in names)
    rows = [head]
    for model, row in metrics.items():
        cells = "".join(f"{v:>10d}" if isinstance(v, int) else f"{v:>10.3f}"
                        for v in row.values())
        rows.append(f"{model:<8}{cells}")
    return "\n".join(rows)


class _Transcript:
    """Prints each line through ``echo`` (unless ``None``) and keeps them all."""

    def __init__(self, echo):
        self.echo, self.lines = echo, []

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)
        if self.echo is not None:
            self.echo(text)


@dataclass
class _Split:
    """A 75/25 train/test split with the training set's standardization."""

    X_tr: np.ndarray
    X_te: np.ndarray
    y_tr: np.ndarray
    y_te: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float

    @classmethod
    def of(cls, data: Dataset, seed: int) -> _Split:
        from sklearn.model_selection import train_test_split

        stratify = data.y if data.task != "regression" else None
        X_tr, X_te, y_tr, y_te = train_test_split(data.X, data.y, test_size=0.25,
                                                  random_state=seed, stratify=stratify)
        y_mean, y_std = (y_tr.mean(), y_tr.std()) if data.task == "regression" else (0.0, 1.0)
        return cls(X_tr, X_te, y_tr, y_te, X_tr.mean(0), X_tr.std(0), y_mean, y_std)

    def standardize(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((X - self.x_mean) / self.x_std)


def run_demo(dataset: str = "diabetes", epochs: int = 200, dim: int = 3, neurons: int = 4,
             out: str | Path | None = "optneuron-demo.png", seed: int = 0, quick: bool = False,
             penalty: float = 1e-2, lr: float = 3e-3, progress: bool = True,
             echo=print) -> DemoResult:
    """Train the hybrid network, compare it with a linear model and a same-size MLP on a
    held-out quarter of the data, certify it, check monotonicity and draw the figure.

    ``quick`` caps the epochs at 25 (for tests); ``out=None`` skips the figure. Every line
    printed also goes into ``DemoResult.lines``.
    """
    epochs, dim = check_int("epochs", epochs, low=1), check_int("dim", dim, low=1)
    neurons = check_int("neurons", neurons, low=1)
    penalty = check_real("penalty", penalty, low=0.0)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    transcript = _Transcript(echo)
    start = time.perf_counter()
    data = load_dataset(dataset)
    split = _Split.of(data, seed)
    torch.manual_seed(seed)  # the Linear layers' default init draws from the global RNG
    net = HybridNet(data.X.shape[1], data.monotone, n_neurons=neurons, dim=dim,
                    generator=torch.Generator().manual_seed(seed))
    transcript(f"optneuron demo: {dataset} ({len(data.X)} rows, {data.X.shape[1]} features, "
               f"{data.task}); hybrid net with {neurons} spectral neurons of size {dim}x{dim}, "
               f"{net.num_parameters()} parameters")
    history = fit_hybrid(net, split.standardize(split.X_tr),
                         torch.from_numpy((split.y_tr - split.y_mean) / split.y_std),
                         epochs=min(epochs, 25) if quick else epochs, lr=lr,
                         penalty=penalty, task=data.task, seed=seed, progress=progress)
    hidden = max(1, round((net.num_parameters() - 1) / (data.X.shape[1] + 2)))
    baselines = _fit_baselines(data, split, hidden, seed)
    predictors = _predictors(data, split, net, baselines)
    metrics = _metrics(data, split, predictors["hybrid"], baselines, net.num_parameters(),
                       hidden)
    transcript()
    transcript(f"held-out metrics ({len(split.y_te)} test rows):")
    table = _format_table(metrics)
    for row in table.splitlines():
        transcript("  " + row)
    # The certificate in original units: divide by the feature scale, times the target scale.
    bounds = feature_certificate(net) * split.y_std / split.x_std
    certificate, checks = _certify(data, split, predictors, bounds, transcript)
    figure = None
    if out is not None:
        figure = Path(out)
        _draw(figure, data, net, predictors, split.X_tr, bounds, history, checks)
    seconds = time.perf_counter() - start
    transcript()
    transcript(f"figure: {figure}" if figure is not None else "figure: skipped")
    transcript(f"done in {seconds:.1f} s")
    return DemoResult(dataset, data.task, metrics, certificate, checks, history, figure,
                      seconds, table, transcript.lines)


def _fit_baselines(data: Dataset, split: _Split, hidden: int, seed: int) -> dict:
    """The linear model and the MLP with ``hidden`` units, fitted on the training part."""
    baselines = _baselines(data.task, hidden, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence chatter is not the point here
        for model in baselines.values():
            model.fit(split.X_tr, split.y_tr)
    return baselines


def _predictors(data: Dataset, split: _Split, net: HybridNet, baselines: dict) -> dict:
    """``name → f(X)`` in target units (regression) or as a logit (classification)."""

    def predict_hybrid(X):
        with torch.no_grad():
            raw = net(split.standardize(X)).numpy()
        return raw * split.y_std + split.y_mean

    predictors = {"hybrid": predict_hybrid}
    for name, model in baselines.items():
        if data.task == "regression":
            predictors[name] = model.predict
        elif hasattr(model, "decision_function"):
            predictors[name] = model.decision_function
        else:
            predictors[name] = (lambda m: lambda X: _logit(m.predict_proba(X)[:, 1]))(model)
    return predictors


def _metrics(data: Dataset, split: _Split, predict_hybrid, baselines: dict, n_params: int,
             hidden: int) -> dict:
    """Held-out scores of every model, hybrid first, with its parameter count."""
    d = data.X.shape[1]
    sizes = {"hybrid": n_params, "linear": d + 1, "MLP": (d + 2) * hidden + 1}
    hybrid_out = predict_hybrid(split.X_te)
    if data.task != "regression":
        hybrid_out = 1 / (1 + np.exp(-hybrid_out))
    metrics = {"hybrid": _scores(data.task, split.y_te, hybrid_out)}
    for name, model in baselines.items():
        out = (model.predict(split.X_te) if data.task == "regression"
               else model.predict_proba(split.X_te)[:, 1])
        metrics[name] = _scores(data.task, split.y_te, out)
    for name in metrics:
        metrics[name]["params"] = sizes[name]
    return metrics


def _certify(data: Dataset, split: _Split, predictors: dict, bounds: np.ndarray,
             transcript: _Transcript) -> tuple[list, dict]:
    """The per-feature certificate next to the largest slope seen, and the monotonicity sweeps
    of the declared features (every model but the linear one), written to the transcript."""
    X_te, d = split.X_te, data.X.shape[1]
    checks = {}
    for i, s in data.monotone.items():
        checks[data.feature_names[i]] = {m: monotonicity_check(p, X_te, i, s)
                                         for m, p in predictors.items() if m != "linear"}
    slopes = [monotonicity_check(predictors["hybrid"], X_te, i, 1)["max_slope"]
              for i in range(d)]
    certificate = [(data.feature_names[i], data.monotone.get(i, 0), float(bounds[i]),
                    float(slopes[i])) for i in range(d)]
    transcript()
    transcript(f"certificate: |Δ {data.target}| <= L_i |Δ x_i| for every input (Weyl, "
               f"composed); l2 Lipschitz <= {np.linalg.norm(bounds * split.x_std):.3g} per "
               "standardized unit")
    transcript(f"  {'feature':<22}{'monotone':>9}{'L_i':>12}{'max slope seen':>16}"
               f"{'L_i x std':>12}")
    for (name, sign, bound, slope), std in zip(certificate, split.x_std):
        mono = {1: "up", -1: "down", 0: ""}[sign]
        transcript(f"  {name:<22}{mono:>9}{bound:>12.4g}{slope:>16.4g}{bound * std:>12.4g}")
    transcript()
    transcript("monotonicity check (each test row, feature swept over its range, 40 steps):")
    for feat, per_model in checks.items():
        direction = "decreasing" if data.monotone[data.feature_names.index(feat)] > 0 \
            else "increasing"
        parts = [f"{m}: {c['violations']}/{c['steps']} {direction} steps"
                 for m, c in per_model.items()]
        transcript(f"  {feat:<22}" + "; ".join(parts))
    return certificate, checks


def _logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _draw(path: Path, data: Dataset, net, predictors, X_tr, bounds, history, checks) -> None:
    """Response curves (monotone features, then the most sensitive other one) with their
    certified cones, the certificate per feature, and the training curves."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the demo figure needs matplotlib: pip install optneuron[plot] "
                          "(or pass out=None / --no-figure)") from err
    from .plot import response_curve, training_curves

    mono = sorted(data.monotone)[:3]
    others = [i for i in np.argsort(-bounds * X_tr.std(0)) if i not in data.monotone]
    features = mono + others[: 4 - len(mono)]
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    z0 = np.median(X_tr, axis=0)
    ylabel = data.target
    for ax, i in zip(axes[:4], features):
        lo, hi = X_tr[:, i].min(), X_tr[:, i].max()
        values = np.linspace(lo, hi, 121)
        response_curve(lambda Z: torch.from_numpy(predictors["hybrid"](Z.numpy())), z0, int(i),
                       values=values, bound=float(bounds[i]), ax=ax, label="hybrid",
                       feature_name=data.feature_names[i])
        Zs = np.repeat(z0[None], len(values), 0)
        Zs[:, i] = values
        ax.plot(values, predictors["MLP"](Zs), "--", color="0.4", lw=1.2, label="MLP")
        sign = data.monotone.get(int(i), 0)
        tag = {1: " (declared increasing)", -1: " (declared decreasing)", 0: ""}[sign]
        ax.set_title(f"{data.feature_names[i]}{tag}", fontsize=10)
        ax.set_ylabel(ylabel)
        # Keep the data in view: the cone grows linearly and would dwarf the curves.
        f = predictors["hybrid"](Zs)
        g = predictors["MLP"](Zs)
        span = max(f.max(), g.max()) - min(f.min(), g.min())
        ax.set_ylim(min(f.min(), g.min()) - 0.6 * span, max(f.max(), g.max()) + 0.6 * span)
        ax.legend(loc="best", fontsize="x-small")
    for ax in axes[len(features):4]:
        ax.set_visible(False)
    ax = axes[4]
    scaled = bounds * X_tr.std(0)  # per standardized unit, so features compare
    # The 12 largest certificates, plus every monotone feature, keep the labels readable.
    top = set(np.argsort(scaled)[-12:]) | set(data.monotone)
    order = [j for j in np.argsort(scaled) if j in top]
    colors = ["tab:green" if j in data.monotone else "tab:blue" for j in order]
    ax.barh([data.feature_names[j] for j in order], scaled[order], color=colors)
    ax.set_xlabel(f"certified |Δ {ylabel}| per 1 std of the feature")
    title = "per-feature certificate (green: monotone)"
    if len(order) < len(scaled):
        title = f"largest {len(order)} of {len(scaled)} per-feature certificates (green: monotone)"
    ax.set_title(title, fontsize=10)
    curves = {"train": history["train"]}
    if history["valid"]:
        curves["validation"] = history["valid"]
    loss_name = "MSE (standardized)" if data.task == "regression" else "log-loss"
    training_curves(curves, ax=axes[5], ylabel=loss_name)
    if "best_epoch" in history:
        axes[5].axvline(history["best_epoch"], color="0.5", ls=":", lw=1,
                        label=f"kept (epoch {history['best_epoch']})")
        axes[5].legend(loc="best", fontsize="small")
    axes[5].set_title("training curves (hybrid)", fontsize=10)
    fig.suptitle(f"optneuron demo: {data.name} — monotone by construction, certified per feature")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
