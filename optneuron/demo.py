"""``optneuron demo``: train a small hybrid network with monotone spectral neurons on a real
dataset that ships with scikit-learn, and show what it learned and what is certified.

The network (``HybridNet``), for standardized inputs split into declared-monotone features
``z_M`` (with signs ``s``) and the rest ``z_O``:

    u = tanh(E z_O + e)                                   (an ordinary layer)
    λ_h = λ_k(A_0^h + Σ_{i∈M} z_i A_i^h + Σ_m u_m C_m^h)  (a SpectralLayer, h = 1 … H)
    f = Σ_h a_h λ_h + Σ_{i∈M} s_i b_i z_i + v·z_O + c,    a_h, b_i ≥ 0  (softplus)

``A_i^h = s_i L Lᵀ`` (``⪰ 0`` or ``⪯ 0`` by construction) and ``a, b ≥ 0``, so ``f`` is monotone
in each declared feature for every parameter value. Per-feature certificate (Weyl, composed):
``|f(z + t e_i) − f(z)| ≤ L_i |t|`` with ``L_i = Σ_h a_h ‖A_i^h‖_op + b_i`` for a monotone
feature and ``L_i = Σ_h a_h Σ_m ‖C_m^h‖_op |E_mi| + |v_i|`` for another (tanh is 1-Lipschitz);
``‖L‖₂`` is then an ℓ2 Lipschitz constant of the whole network.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .certify import feature_bounds
from .nn import SpectralLayer

__all__ = [
    "DATASETS",
    "HybridNet",
    "load_dataset",
    "fit_hybrid",
    "feature_certificate",
    "monotonicity_check",
    "run_demo",
    "add_arguments",
    "main",
]

_DTYPE = torch.float64


@dataclass(frozen=True)
class _Spec:
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
    "diabetes": _Spec("load_diabetes", "regression", {"bmi": 1, "bp": 1, "s5": 1},
                      "disease progression"),
    "breast_cancer": _Spec("load_breast_cancer", "classification",
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


class HybridNet(nn.Module):
    """Ordinary embedding of the free features, spectral neurons on top, sign-safe head.

    See the module docstring for the formula; ``monotone`` maps an input column to ±1.
    """

    def __init__(self, in_features: int, monotone: dict, *, n_neurons: int = 8, dim: int = 4,
                 embed: int = 4, index: int | None = -1, generator=None):
        super().__init__()
        for i, s in monotone.items():
            if not 0 <= i < in_features or s not in (1, -1):
                raise ValueError(f"monotone must map columns 0..{in_features - 1} to ±1, "
                                 f"got {monotone!r}")
        self.mono = sorted(monotone)
        self.other = [i for i in range(in_features) if i not in monotone]
        self.register_buffer("signs", torch.tensor([float(monotone[i]) for i in self.mono],
                                                   dtype=_DTYPE))
        n_m, n_o = len(self.mono), len(self.other)
        self.embed = nn.Linear(n_o, embed, dtype=_DTYPE) if n_o and embed else None
        width = n_m + (embed if self.embed is not None else 0)
        self.spectral = SpectralLayer(
            width, n_neurons, dim, index=index, monotone={p: monotone[i] for p, i in
                                                           enumerate(self.mono)}, dtype=_DTYPE)
        self.spectral.reset_parameters(generator=generator)
        # softplus(−1) ≈ 0.31: a modest positive start for the sign-constrained weights.
        self.head_raw = nn.Parameter(torch.full((n_neurons,), -1.0, dtype=_DTYPE))
        self.mono_raw = nn.Parameter(torch.full((n_m,), -3.0, dtype=_DTYPE))
        self.skip = nn.Parameter(torch.zeros(n_o, dtype=_DTYPE))
        self.bias = nn.Parameter(torch.zeros((), dtype=_DTYPE))

    def _spectral_input(self, z: torch.Tensor) -> torch.Tensor:
        parts = [z[..., self.mono]]
        if self.embed is not None:
            parts.append(torch.tanh(self.embed(z[..., self.other])))
        return torch.cat(parts, -1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lam = self.spectral(self._spectral_input(z))
        out = lam @ F.softplus(self.head_raw) + self.bias
        out = out + z[..., self.mono] @ (self.signs * F.softplus(self.mono_raw))
        return out + z[..., self.other] @ self.skip

    def num_parameters(self) -> int:
        """Trainable scalars (the PSD factors ``L`` counted as stored)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def feature_certificate(net: HybridNet) -> np.ndarray:
    """``L_i`` with ``|f(z + t e_i) − f(z)| ≤ L_i |t|`` for every ``z`` (standardized units).

    Weyl per neuron (``‖A_i‖_op``), composed through the nonnegative head and the 1-Lipschitz
    tanh embedding (see the module docstring).
    """
    with torch.no_grad():
        B = feature_bounds(net.spectral).numpy()  # (neurons, width)
        a = F.softplus(net.head_raw).numpy()
        n_m = len(net.mono)
        bounds = np.zeros(n_m + len(net.other))
        through = a @ B  # sensitivity of Σ a_h λ_h to each spectral input
        mono = through[:n_m] + F.softplus(net.mono_raw).numpy()
        other = np.abs(net.skip.numpy())
        if net.embed is not None:
            other = other + through[n_m:] @ np.abs(net.embed.weight.numpy())
    bounds[net.mono] = mono
    bounds[net.other] = other
    return bounds


def fit_hybrid(net: nn.Module, Z: torch.Tensor, y: torch.Tensor, *, epochs: int = 200,
               lr: float = 0.01, batch_size: int = 64, penalty: float = 0.0,
               task: str = "regression", val_fraction: float = 0.15, seed: int = 0,
               progress: bool = True) -> dict:
    """Adam on ``loss + penalty · Σ ‖A_i‖_op`` (the spectral-norm regularizer); keeps the
    weights with the best validation loss. Returns ``{"train": [...], "valid": [...],
    "best_epoch": n}`` (mean loss per epoch; the epoch whose weights were kept)."""
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    loss_fn = F.mse_loss if task == "regression" else F.binary_cross_entropy_with_logits
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(Z), generator=generator)
    n_val = int(round(val_fraction * len(Z))) if val_fraction > 0 else 0
    val, train = order[:n_val], order[n_val:]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    history = {"train": [], "valid": []}
    best, best_state = math.inf, None
    bar = tqdm(range(epochs), desc="training hybrid", unit="epoch", disable=not progress,
               leave=False)
    for _ in bar:
        net.train()
        perm = train[torch.randperm(len(train), generator=generator)]
        total = 0.0
        for start in range(0, len(perm), batch_size):
            idx = perm[start:start + batch_size]
            loss = loss_fn(net(Z[idx]), y[idx])
            objective = loss + penalty * _penalty(net) if penalty else loss
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            total += loss.item() * len(idx)
        history["train"].append(total / len(perm))
        if n_val:
            net.eval()
            with torch.no_grad():
                v = loss_fn(net(Z[val]), y[val]).item()
            history["valid"].append(v)
            if v < best:
                best, best_state = v, copy.deepcopy(net.state_dict())
                history["best_epoch"] = len(history["valid"])
            bar.set_postfix(train=f"{history['train'][-1]:.3f}", valid=f"{v:.3f}", refresh=False)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history


def _penalty(net: nn.Module) -> torch.Tensor:
    from .certify import spectral_penalty

    return spectral_penalty(net)


def monotonicity_check(predict, X: np.ndarray, feature: int, sign: int, num: int = 41) -> dict:
    """Sweep ``feature`` over its observed range at every row of ``X``; count the steps where
    ``sign · (f(t_{j+1}) − f(t_j)) < 0`` (beyond round-off) and report the worst one."""
    grid = np.linspace(X[:, feature].min(), X[:, feature].max(), num)
    Xs = np.repeat(X[:, None, :], num, axis=1)
    Xs[:, :, feature] = grid
    f = predict(Xs.reshape(-1, X.shape[1])).reshape(len(X), num)
    steps = sign * np.diff(f, axis=1)
    tol = 1e-9 * max(1.0, float(np.abs(f).max()))
    return {"violations": int((steps < -tol).sum()), "steps": int(steps.size),
            "worst": float(min(steps.min(), 0.0)),
            "max_slope": float((np.abs(np.diff(f, axis=1)) / np.diff(grid)).max())}


@contextlib.contextmanager
def _torch_threads(n: int):
    """Tiny tensors: more intra-op threads only add synchronization."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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


def run_demo(dataset: str = "diabetes", epochs: int = 200, dim: int = 3, neurons: int = 4,
             out: str | Path | None = "optneuron-demo.png", seed: int = 0, quick: bool = False,
             penalty: float = 1e-2, lr: float = 3e-3, progress: bool = True,
             echo=print) -> DemoResult:
    """Train the hybrid network, compare it with a linear model and a same-size MLP on a
    held-out quarter of the data, certify it, check monotonicity and draw the figure.

    ``quick`` caps the epochs at 25 (for tests); ``out=None`` skips the figure. Every line
    printed also goes into ``DemoResult.lines``.
    """
    from sklearn.model_selection import train_test_split

    for name, value, low in (("epochs", epochs, 1), ("dim", dim, 1), ("neurons", neurons, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int of at least {low}, got {value!r}")
    if not penalty >= 0:
        raise ValueError(f"penalty must be non-negative, got {penalty!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    lines: list[str] = []

    def say(text=""):
        lines.append(text)
        if echo is not None:
            echo(text)

    start = time.perf_counter()
    data = load_dataset(dataset)
    epochs = min(epochs, 25) if quick else epochs
    X_tr, X_te, y_tr, y_te = train_test_split(data.X, data.y, test_size=0.25,
                                              random_state=seed,
                                              stratify=data.y if data.task != "regression"
                                              else None)
    x_mean, x_std = X_tr.mean(0), X_tr.std(0)
    y_mean, y_std = (y_tr.mean(), y_tr.std()) if data.task == "regression" else (0.0, 1.0)

    def standardize(X):
        return torch.from_numpy((X - x_mean) / x_std)

    torch.manual_seed(seed)  # the Linear layers' default init draws from the global RNG
    net = HybridNet(data.X.shape[1], data.monotone, n_neurons=neurons, dim=dim,
                    generator=torch.Generator().manual_seed(seed))
    n_params = net.num_parameters()
    say(f"optneuron demo: {dataset} ({len(data.X)} rows, {data.X.shape[1]} features, "
        f"{data.task}); hybrid net with {neurons} spectral neurons of size {dim}x{dim}, "
        f"{n_params} parameters")
    with _torch_threads(1):
        history = fit_hybrid(net, standardize(X_tr), torch.from_numpy((y_tr - y_mean) / y_std),
                             epochs=epochs, lr=lr, penalty=penalty, task=data.task, seed=seed,
                             progress=progress)

    def predict_hybrid(X):
        with torch.no_grad():
            raw = net(standardize(X)).numpy()
        return raw * y_std + y_mean  # regression: target units; classification: the logit

    def prob_hybrid(X):
        return 1 / (1 + np.exp(-predict_hybrid(X)))

    d = data.X.shape[1]
    hidden = max(1, round((n_params - 1) / (d + 2)))
    baselines = _baselines(data.task, hidden, seed)
    metrics, predictors = {}, {"hybrid": predict_hybrid}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence chatter is not the point here
        for model in baselines.values():
            model.fit(X_tr, y_tr)
    for name, model in baselines.items():
        if data.task == "regression":
            predictors[name] = model.predict
            metrics[name] = _scores(data.task, y_te, model.predict(X_te))
        else:
            predictors[name] = (lambda m: lambda X: m.decision_function(X)
                                if hasattr(m, "decision_function")
                                else _logit(m.predict_proba(X)[:, 1]))(model)
            metrics[name] = _scores(data.task, y_te, model.predict_proba(X_te)[:, 1])
    sizes = {"linear": d + 1, "MLP": (d + 2) * hidden + 1}
    hyb = predict_hybrid(X_te) if data.task == "regression" else prob_hybrid(X_te)
    metrics = {"hybrid": _scores(data.task, y_te, hyb), **metrics}
    for name in metrics:
        metrics[name]["params"] = n_params if name == "hybrid" else sizes[name]

    say()
    say(f"held-out metrics ({len(y_te)} test rows):")
    table = _format_table(metrics)
    for row in table.splitlines():
        say("  " + row)

    # The certificate in original units: divide by the feature scale, times the target scale.
    bounds = feature_certificate(net) * y_std / x_std
    checks = {}
    for i, s in data.monotone.items():
        checks[data.feature_names[i]] = {m: monotonicity_check(p, X_te, i, s)
                                         for m, p in predictors.items() if m != "linear"}
    slopes = [monotonicity_check(predict_hybrid, X_te, i, 1)["max_slope"] for i in range(d)]
    certificate = [(data.feature_names[i], data.monotone.get(i, 0), float(bounds[i]),
                    float(slopes[i])) for i in range(d)]
    unit = data.target
    say()
    say(f"certificate: |Δ {unit}| <= L_i |Δ x_i| for every input (Weyl, composed); "
        f"l2 Lipschitz <= {np.linalg.norm(bounds * x_std):.3g} per standardized unit")
    say(f"  {'feature':<22}{'monotone':>9}{'L_i':>12}{'max slope seen':>16}{'L_i x std':>12}")
    for (name, sign, bound, slope), std in zip(certificate, x_std):
        mono = {1: "up", -1: "down", 0: ""}[sign]
        say(f"  {name:<22}{mono:>9}{bound:>12.4g}{slope:>16.4g}{bound * std:>12.4g}")
    say()
    say("monotonicity check (each test row, feature swept over its range, 40 steps):")
    for feat, per_model in checks.items():
        parts = [f"{m}: {c['violations']}/{c['steps']} decreasing steps"
                 if data.monotone[data.feature_names.index(feat)] > 0 else
                 f"{m}: {c['violations']}/{c['steps']} increasing steps"
                 for m, c in per_model.items()]
        say(f"  {feat:<22}" + "; ".join(parts))

    figure = None
    if out is not None:
        figure = Path(out)
        _draw(figure, data, net, predictors, X_tr, bounds, history, checks)
    seconds = time.perf_counter() - start
    say()
    say(f"figure: {figure}" if figure is not None else "figure: skipped")
    say(f"done in {seconds:.1f} s")
    return DemoResult(dataset, data.task, metrics, certificate, checks, history, figure,
                      seconds, table, lines)


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


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``optneuron demo`` options."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="diabetes",
                        help="bundled scikit-learn dataset (default: diabetes)")
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    parser.add_argument("--dim", type=int, default=3,
                        help="matrix size of each spectral neuron (default 3)")
    parser.add_argument("--neurons", type=int, default=4,
                        help="number of spectral neurons (default 4)")
    parser.add_argument("--penalty", type=float, default=1e-2,
                        help="weight of the spectral-norm penalty Σ‖A_i‖_op (default 1e-2)")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="Adam step size (default 3e-3)")
    parser.add_argument("--out", default="optneuron-demo.png",
                        help="where to write the PNG figure (default optneuron-demo.png)")
    parser.add_argument("--no-figure", action="store_true", help="skip the figure")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="at most 25 epochs (a smoke run)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(args=None) -> int:
    """Run the demo from parsed arguments (a Namespace) or an argv list; returns 0."""
    if not isinstance(args, argparse.Namespace):
        parser = add_arguments(argparse.ArgumentParser(prog="optneuron demo",
                                                       description=__doc__.splitlines()[0]))
        args = parser.parse_args(args)
    run_demo(dataset=args.dataset, epochs=args.epochs, dim=args.dim, neurons=args.neurons,
             out=None if args.no_figure else args.out, seed=args.seed, quick=args.quick,
             penalty=args.penalty, lr=args.lr, progress=not args.no_progress)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
