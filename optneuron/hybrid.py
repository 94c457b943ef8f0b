"""``HybridNet``: an ordinary layer for the free features, spectral neurons on top, a sign-safe
head — monotone by construction in the declared features, with a per-feature certificate.

The network, for standardized inputs split into declared-monotone features
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

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .nn import SpectralLayer
from .training import TrainingConfig, train
from .validation import check_real

__all__ = ["HybridNet", "feature_certificate", "fit_hybrid", "monotonicity_check"]

_DTYPE = torch.float64
_LOSSES = {"regression": F.mse_loss, "classification": F.binary_cross_entropy_with_logits}


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
        B = net.spectral.feature_bounds().numpy()  # (neurons, width)
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
    """``training.train`` on ``loss + penalty · Σ ‖A_i‖_op`` for all ``epochs`` (no early stop),
    keeping the weights with the best loss on a random ``val_fraction`` of the rows.

    ``loss`` is the squared error (``task="regression"``) or the logistic log-loss of one logit
    (``"classification"``). Returns ``{"train": [...], "valid": [...], "best_epoch": n}`` (mean
    loss per epoch; ``best_epoch`` only with a validation split). Seeded by ``seed`` alone.
    """
    if task not in _LOSSES:
        raise ValueError(f"task must be one of {tuple(_LOSSES)}, got {task!r}")
    config = TrainingConfig(max_epochs=epochs, learning_rate=lr, batch_size=batch_size,
                            penalty=penalty, patience=None, progress=progress,
                            description="training hybrid")
    check_real("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(Z), generator=generator)
    n_val = int(round(val_fraction * len(Z)))
    val, rest = order[:n_val], order[n_val:]
    validation = (Z[val], y[val]) if n_val else None
    history = train(net, _LOSSES[task], Z[rest], y[rest], config=config, validation=validation,
                    generator=generator)
    out = {"train": history.train_loss, "valid": history.validation_loss or []}
    if validation is not None:
        out["best_epoch"] = history.best_epoch
    return out


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
