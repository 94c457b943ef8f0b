"""Pictures of spectral neurons: eigenvalue functions of a pencil, learned responses with their
certified bounds, and training curves.

matplotlib is an optional extra (``pip install optneuron[plot]``) and is imported only when a
function here is called. Every function takes an optional ``ax`` to draw into and returns the
Axes it drew on (its figure is ``ax.figure``); with ``ax=None`` a new figure is made through
``matplotlib.pyplot`` (use the ``Agg`` backend for headless runs).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .validation import check_index, check_int

__all__ = [
    "pencil_eigenvalues",
    "eigen_surface",
    "response_curve",
    "training_curves",
    "feature_strengths_history",
    "gap_history",
]


def _pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "optneuron.plot needs matplotlib; install the plot extra: pip install optneuron[plot]"
        ) from err
    return plt


def _axes(ax, projection: str | None = None):
    """``ax`` itself, or a fresh Axes (3-D when ``projection='3d'``) on a new figure."""
    if ax is not None:
        if projection == "3d" and getattr(ax, "name", None) != "3d":
            raise ValueError("ax must be a 3-D Axes (projection='3d') for kind='surface'")
        return ax
    plt = _pyplot()
    if projection is None:
        return plt.subplots()[1]
    fig = plt.figure()
    return fig.add_subplot(projection=projection)


def _symmetric_array(name: str, M) -> np.ndarray:
    """``M`` as a float64 symmetric ``(n, n)`` numpy array, symmetrized as ``(M + Mᵀ)/2``."""
    if isinstance(M, torch.Tensor):
        M = M.detach().cpu().double().numpy()
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {M.shape}")
    if not np.isfinite(M).all():
        raise ValueError(f"{name} has non-finite entries (nan or inf)")
    return (M + M.T) / 2


def _interval(name: str, interval) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a pair (low, high), got {interval!r}") from err
    if not lo < hi:
        raise ValueError(f"{name} must have low < high, got {interval!r}")
    return lo, hi


def pencil_eigenvalues(
    A,
    B,
    interval=(-3.0, 3.0),
    *,
    num: int = 301,
    highlight: int | Sequence[int] | None = None,
    ax=None,
):
    """Draw every eigenvalue ``λ_k(A + xB)``, ``k = 0 … n−1``, for ``x`` in ``interval``.

    ``B ⪰ 0`` makes every curve nondecreasing; ``λ_0`` is concave and ``λ_{n−1}`` convex in
    ``x``; a middle ``λ_k`` is neither and has a kink where two eigenvalues cross. Curves in
    ``highlight`` (indices, negative from the top) are drawn bold and labelled.
    """
    A = _symmetric_array("A", A)
    B = _symmetric_array("B", B)
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}")
    lo, hi = _interval("interval", interval)
    xs = np.linspace(lo, hi, check_int("num", num, low=2))
    mu = np.linalg.eigvalsh(A[None] + xs[:, None, None] * B[None])  # ascending, (num, n)
    n = A.shape[0]
    if highlight is None:
        chosen = set()
    else:
        raw = [highlight] if isinstance(highlight, numbers.Integral) else list(highlight)
        chosen = {check_index("highlight index", k, n) % n for k in raw}
    ax = _axes(ax)
    for k in range(n):
        bold = k in chosen
        ax.plot(
            xs,
            mu[:, k],
            lw=2.2 if bold else 1.0,
            alpha=1.0 if bold else 0.55,
            color=None if bold else "0.35",
            label=f"λ_{k}" if bold else None,
            zorder=3 if bold else 2,
        )
    ax.set_xlabel("x")
    ax.set_ylabel("λ_k(A + xB)")
    if chosen:
        ax.legend(loc="best", fontsize="small")
    return ax


def eigen_surface(
    A,
    B1,
    B2,
    index: int = 0,
    extent=(-2.0, 2.0, -2.0, 2.0),
    *,
    num: int = 41,
    kind: str = "surface",
    ax=None,
):
    """Draw ``f(x, y) = λ_index(A + x B1 + y B2)`` over ``extent = (x0, x1, y0, y1)``.

    ``index=0`` gives a concave surface, ``index=-1`` a convex one. ``kind`` is ``"surface"``
    (a 3-D Axes) or ``"contour"`` (filled contours on a 2-D Axes).
    """
    A = _symmetric_array("A", A)
    B1 = _symmetric_array("B1", B1)
    B2 = _symmetric_array("B2", B2)
    if not A.shape == B1.shape == B2.shape:
        raise ValueError(
            f"A, B1, B2 must have the same shape, got {A.shape}, {B1.shape}, {B2.shape}"
        )
    n = A.shape[0]
    index = check_index("index", index, n)
    if kind not in ("surface", "contour"):
        raise ValueError(f"kind must be 'surface' or 'contour', got {kind!r}")
    try:
        x0, x1, y0, y1 = (float(v) for v in extent)
    except (TypeError, ValueError) as err:
        raise ValueError(f"extent must be (x0, x1, y0, y1), got {extent!r}") from err
    num = check_int("num", num, low=2)
    X, Y = np.meshgrid(np.linspace(x0, x1, num), np.linspace(y0, y1, num))
    M = A + X[..., None, None] * B1 + Y[..., None, None] * B2
    Z = np.linalg.eigvalsh(M)[..., index]
    if kind == "surface":
        ax = _axes(ax, projection="3d")
        ax.plot_surface(X, Y, Z, cmap="viridis", linewidth=0, antialiased=True)
        ax.set_zlabel(f"λ_{index % n}")
    else:
        ax = _axes(ax)
        filled = ax.contourf(X, Y, Z, levels=20, cmap="viridis")
        ax.figure.colorbar(filled, ax=ax, label=f"λ_{index % n}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def _evaluate(model: Callable, Z: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """``model(Z)`` as a flat numpy array, without gradients."""
    with torch.no_grad():
        out = model(torch.as_tensor(Z, dtype=dtype))
    out = out.detach().cpu().double().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (Z.shape[0],):
        raise ValueError(
            f"model must map (N, d) inputs to N scalar outputs, got output shape {out.shape}"
        )
    return out


def _model_dtype(model) -> torch.dtype:
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    return params[0].dtype if params else torch.float64


def _feature_bound(model, feature: int) -> float:
    """The certificate ``‖A_feature‖_op`` of a single spectral neuron."""
    if not hasattr(model, "feature_bounds"):
        raise ValueError(
            "bound is required unless model has feature_bounds() (a SpectralNeuron)"
        )
    bounds = model.feature_bounds()
    if bounds.ndim != 1:
        raise ValueError(
            "bound is required for a model whose feature_bounds() is not one row "
            f"(got shape {tuple(bounds.shape)}); pass the composed bound explicitly"
        )
    return float(bounds[feature])


def response_curve(
    model: Callable,
    z0,
    feature: int,
    *,
    values=None,
    span: float = 3.0,
    num: int = 201,
    bound: float | None = None,
    ax=None,
    label: str | None = None,
    feature_name: str | None = None,
    color=None,
):
    """Draw ``t ↦ f(z0 + (t − z0_i) e_i)`` along feature ``i`` with its certified Lipschitz cone.

    The cone ``f(z0) ± L |t − z0_i|`` holds the whole curve whenever ``L`` bounds the
    sensitivity to feature ``i`` (for one spectral neuron ``L = ‖A_i‖_op``, by Weyl). ``bound``
    is ``L``; it defaults to ``model.feature_bounds()[feature]``. ``values`` are the ``t`` to
    evaluate at (default: ``num`` points in ``z0_i ± span``).
    """
    if isinstance(z0, torch.Tensor):
        z0 = z0.detach().cpu().double().numpy()
    z0 = np.asarray(z0, dtype=np.float64)
    if z0.ndim != 1 or z0.size == 0:
        raise ValueError(f"z0 must be one input point of shape (d,), got shape {z0.shape}")
    d = z0.size
    feature = check_int("feature", feature, low=0, high=d - 1)
    if values is None:
        values = np.linspace(z0[feature] - span, z0[feature] + span, check_int("num", num, low=2))
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if bound is None:
        bound = _feature_bound(model, feature)
    bound = float(bound)
    if not np.isfinite(bound) or bound < 0:
        raise ValueError(f"bound must be a finite non-negative float, got {bound!r}")

    Z = np.repeat(z0[None], len(values), axis=0)
    Z[:, feature] = values
    dtype = _model_dtype(model)
    f = _evaluate(model, Z, dtype)
    f0 = _evaluate(model, z0[None], dtype)[0]
    gap = np.abs(values - z0[feature])

    ax = _axes(ax)
    (line,) = ax.plot(values, f, lw=2, color=color, label=label or "response")
    ax.fill_between(
        values, f0 - bound * gap, f0 + bound * gap, color=line.get_color(), alpha=0.15,
        label=f"certified cone (L = {bound:.3g})",
    )
    ax.plot([z0[feature]], [f0], "o", color=line.get_color(), ms=4)
    ax.set_xlabel(feature_name or f"feature {feature}")
    ax.set_ylabel("output")
    ax.legend(loc="best", fontsize="small")
    return ax


def training_curves(
    history,
    *,
    ax=None,
    logy: bool = True,
    xlabel: str = "epoch",
    ylabel: str = "loss",
):
    """Draw training curves: ``history`` maps a name to a sequence of values (one per epoch),
    or is one sequence. Scalar entries of a mapping (such as ``"best_epoch"``) are not curves
    and are skipped. ``logy`` uses a log scale when every value is positive."""
    if isinstance(history, Mapping):
        curves = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in history.items()
                  if np.ndim(v) > 0}
    else:
        curves = {ylabel: np.asarray(history, dtype=np.float64).ravel()}
    if not curves or any(len(v) == 0 for v in curves.values()):
        raise ValueError("history must hold at least one non-empty sequence of values")
    ax = _axes(ax)
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, lw=1.6, label=name)
    if logy and all((v > 0).all() for v in curves.values()):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(curves) > 1:
        ax.legend(loc="best", fontsize="small")
    return ax


def feature_strengths_history(
    history,
    *,
    names: Sequence[str] | None = None,
    cap: float | None = None,
    ax=None,
    logy: bool = False,
):
    """Draw each feature's certified strength per epoch: ``history`` is an estimator's
    ``feature_strengths_history_`` (epochs × features) or a fitted estimator carrying it;
    ``names`` label the features (default: the estimator's ``feature_names_in_`` or
    ``x0, x1, …``); ``cap`` draws ``max_feature_strength`` as a dashed line."""
    if hasattr(history, "feature_strengths_history_"):
        if names is None and hasattr(history, "feature_names_in_"):
            names = [str(n) for n in history.feature_names_in_]
        history = history.feature_strengths_history_
    H = np.asarray(history, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] == 0:
        raise ValueError(f"history must be epochs × features with at least one epoch, got "
                         f"shape {H.shape}")
    names = [f"x{i}" for i in range(H.shape[1])] if names is None else list(names)
    if len(names) != H.shape[1]:
        raise ValueError(f"names must have {H.shape[1]} entries, got {len(names)}")
    ax = _axes(ax)
    epochs = np.arange(1, H.shape[0] + 1)
    for i, name in enumerate(names):
        ax.plot(epochs, H[:, i], lw=1.4, label=name)
    if cap is not None:
        ax.axhline(cap, color="k", ls="--", lw=1, label="cap")
    if logy and (H > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("certified strength")
    ax.legend(loc="best", fontsize="small")
    return ax


def gap_history(losses, gaps, q: Sequence[float] = (0.1, 0.5, 0.9), *, axes=None):
    """Draw the loss curve beside the eigenvalue-gap quantiles, one point per epoch.

    ``losses``: a sequence (or a mapping name → sequence, as ``training_curves``); ``gaps``:
    ``(epochs, len(q))`` quantiles of the smallest used gap per epoch
    (``optneuron.diagnostics.gap_quantiles``, one row per epoch; a layer's
    ``(len(q), out_features)`` rows are reduced to their smallest neuron). ``axes``: two Axes,
    or ``None`` for a new figure. Returns the two Axes.
    """
    gaps = np.asarray(gaps, dtype=np.float64)
    if gaps.ndim == 3:
        gaps = gaps.min(-1)
    q = list(q)
    if gaps.ndim != 2 or gaps.shape[1] != len(q) or gaps.shape[0] == 0:
        raise ValueError(f"gaps must have shape (epochs, {len(q)}) for q = {q}, got {gaps.shape}")
    if axes is None:
        axes = _pyplot().subplots(1, 2)[1]
    if len(axes) != 2:
        raise ValueError(f"axes must hold two Axes, got {len(axes)}")
    training_curves(losses, ax=axes[0])
    epochs = np.arange(1, len(gaps) + 1)
    for j, level in enumerate(q):
        axes[1].plot(epochs, gaps[:, j], lw=1.4, label=f"q = {level:g}")
    if (gaps > 0).all():
        axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("smallest eigenvalue gap")
    axes[1].legend(loc="best", fontsize="small")
    return axes
