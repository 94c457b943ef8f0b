"""Certified sensitivity of spectral neurons and of networks built with them.

Weyl's inequality ``|λ_k(A + E) − λ_k(A)| ≤ ‖E‖_op`` gives, for ``f(z) = λ_k(A_0 + Σ z_i A_i)``,

    |f(z+ε) − f(z)| ≤ Σ_i |ε_i| ‖A_i‖_op ≤ ‖ε‖₂ (Σ_i ‖A_i‖²_op)^{1/2}.

``feature_bounds`` returns the per-feature ``‖A_i‖_op`` (``Pencil.operator_norms``: exact,
``max |eigvalsh(A_i)|`` of the assembled matrix, whatever the structure). For a layer with
bounds ``B (out, in)``,
``‖f(z+ε) − f(z)‖ ≤ ‖B |ε|‖``, so its constant is ``‖B‖₂`` (largest singular value) for
``norm="l2"`` and ``‖B‖_∞`` (largest row sum) for ``norm="linf"`` — the same operator norms
used for ``nn.Linear`` weights. Compositions multiply the per-layer constants.

A *spectral module* is any module whose ``pencil`` attribute is a ``Pencil`` and whose output
is an eigenvalue of ``pencil(z)`` (``SpectralNeuron``, ``SpectralLayer``); this module composes
the pencils' own norms and knows nothing else about them.
"""

from __future__ import annotations

import torch
from torch import nn

from .pencils import Pencil, bound_matrix_norm

__all__ = ["feature_bounds", "lipschitz_bound", "spectral_penalty"]

_NORMS = ("l2", "linf")


def _is_spectral(module) -> bool:
    return isinstance(getattr(module, "pencil", None), Pencil)


def _pencil_of(module) -> Pencil:
    if _is_spectral(module):
        return module.pencil
    if isinstance(module, Pencil):
        return module
    raise TypeError(
        f"module must be a SpectralNeuron, SpectralLayer or Pencil, got {type(module).__name__}"
    )


def _own_sensitivity(module) -> bool:
    # a module whose output is not one eigenvalue of its pencil (a mixture ⟨w, λ⟩, a
    # trust-region neuron) states its own per-feature bound: the pencil's would be unsound
    return callable(getattr(module, "feature_sensitivity", None))


def feature_bounds(module) -> torch.Tensor:
    """``‖A_i‖_op`` per feature (detached): ``(in_features,)`` or ``(out_features, in_features)``;
    a module's own ``feature_sensitivity()`` where it has one (mixtures, trust-region neurons).

    ``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| · bound_i`` for every ``z`` and ``ε``.
    """
    with torch.no_grad():
        if _own_sensitivity(module):
            return module.feature_sensitivity()
        return _pencil_of(module).operator_norms()


def spectral_penalty(module: nn.Module) -> torch.Tensor:
    """Differentiable ``Σ_i ‖A_i‖_op``, summed over every spectral neuron in ``module``."""
    if _own_sensitivity(module):
        return module.feature_sensitivity().sum()
    if _is_spectral(module) or isinstance(module, Pencil):
        return _pencil_of(module).operator_norms().sum()
    terms = [(m.feature_sensitivity() if _own_sensitivity(m) else m.pencil.operator_norms()).sum()
             for m in module.modules() if _is_spectral(m)]
    if not terms:
        raise TypeError(f"{type(module).__name__} contains no SpectralNeuron or SpectralLayer")
    return torch.stack(terms).sum()


def lipschitz_bound(module: nn.Module, norm: str = "l2") -> float:
    """Certified Lipschitz constant of ``module`` for ``‖·‖₂`` (``"l2"``) or ``‖·‖_∞`` (``"linf"``).

    Single neuron: ``(Σ ‖A_i‖²_op)^{1/2}`` (l2) or ``Σ ‖A_i‖_op`` (linf). ``nn.Sequential`` of
    ``nn.Linear``, ``nn.ReLU``, ``nn.Tanh``, ``nn.Identity`` and spectral neurons/layers (nested
    allowed): the product of the layers' constants. Any other module raises ``TypeError``.
    """
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    with torch.no_grad():
        return _lipschitz(module, norm)


def _lipschitz(module: nn.Module, norm: str) -> float:
    if _own_sensitivity(module):
        return bound_matrix_norm(module.feature_sensitivity(), norm)
    if _is_spectral(module):
        return module.pencil.lipschitz_bound(norm)
    if isinstance(module, nn.Sequential):
        constant = 1.0
        for child in module:
            constant *= _lipschitz(child, norm)
        return constant
    if isinstance(module, nn.Linear):
        return bound_matrix_norm(module.weight, norm)
    if isinstance(module, (nn.ReLU, nn.Tanh, nn.Identity)):
        return 1.0
    raise TypeError(
        f"lipschitz_bound does not support {type(module).__name__}; supported: nn.Sequential of "
        "nn.Linear, nn.ReLU, nn.Tanh, nn.Identity, SpectralNeuron, SpectralLayer"
    )
