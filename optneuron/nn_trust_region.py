"""Trust-region neurons: ``f(z) = min_{‖x‖=1} xᵀA(z)x + 2b(z)ᵀx`` as PyTorch modules.

``A(z) = A_0 + Σ_i z_i A_i`` is a pencil (``optneuron.pencils``, any structure) and
``b(z) = b_0 + Σ_i z_i b_i`` an affine map; the value is solved by an ``OptLayer`` on
``TrustRegion(ball)``. What the construction guarantees, for every parameter value
(theory/trust-region-neuron.md):

* ``f`` is concave in ``z``: for each fixed ``x`` the objective is affine in ``z``, and a
  minimum of affine functions is concave;
* ``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| s_i`` with ``s_i = ‖A_i‖_op + 2‖b_i‖`` (each affine piece
  changes by ``Σ_i ε_i (xᵀA_ix + 2b_iᵀx)`` and ``‖x‖ ≤ 1``): ``feature_sensitivity``;
* ``monotone={i: +1}`` makes ``f`` nondecreasing in ``z_i`` (``-1``: nonincreasing) by
  ``A_i ⪰ 0`` (``⪯ 0``; the pencil's monotone features) and ``b_i = 0`` — sufficient, not
  necessary (``∂f/∂z_i = xᵀA_ix + 2b_iᵀx`` at the minimizer is then ``≥ 0``), so a monotone
  feature gives up its linear term.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layer import OptLayer
from .pencils import make_pencil
from .problems import TrustRegion

__all__ = ["TrustRegionNeuron", "TrustRegionLayer"]


class _TrustRegion(nn.Module):
    def __init__(self, in_features, out_features, dim, structure="dense", bandwidth=None,
                 monotone=None, ball=False, backend="eigen", backend_options=None,
                 device=None, dtype=None):
        super().__init__()
        self.pencil = make_pencil(in_features, dim, structure=structure, bandwidth=bandwidth,
                                  monotone=monotone, out_features=out_features, device=device,
                                  dtype=dtype)
        self.in_features, self.out_features = self.pencil.in_features, self.pencil.out_features
        self.dim = self.pencil.dim
        rows = dim * (1 if out_features is None else out_features)
        factory = dict(device=device, dtype=self.pencil.bias.dtype)
        self.b_weight = nn.Parameter(torch.empty(rows, in_features, **factory))
        self.b_bias = nn.Parameter(torch.empty(rows, **factory))
        mask = torch.ones(in_features, **factory)
        mask[list(self.pencil.monotone)] = 0.0  # a monotone feature has b_i = 0 (docstring)
        self.register_buffer("b_mask", mask)
        self.solver = OptLayer(TrustRegion(ball=ball), backend, **(backend_options or {}))
        self.reset_parameters()

    @property
    def structure(self) -> str:
        return self.pencil.structure

    @property
    def ball(self) -> bool:
        return self.solver.problem.ball

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The pencil's near-affine start; ``b_i ~ U(±1/√(in·n))`` so ``‖Σ z_i b_i‖ = O(1)``
        like the pencil's ``‖Σ z_i A_i‖_op``, and ``b_0 = 0``."""
        self.pencil.reset_parameters(generator=generator)
        bound = 1 / math.sqrt(self.in_features * self.dim)
        with torch.no_grad():
            w = torch.rand(self.b_weight.shape, generator=generator, dtype=torch.float64)
            self.b_weight.copy_(((2 * w - 1) * bound).to(self.b_weight.dtype))
            self.b_bias.zero_()

    def feature_vectors(self) -> torch.Tensor:
        """The ``b_i``: ``([out_features,] in_features, n)`` (differentiable)."""
        W = (self.b_weight * self.b_mask).T  # (in, [out·]n)
        if self.out_features is None:
            return W
        return W.reshape(self.in_features, self.out_features, self.dim).transpose(0, 1)

    def offset_vector(self) -> torch.Tensor:
        """``b_0``: ``([out_features,] n)``."""
        return self.b_bias if self.out_features is None else self.b_bias.reshape(-1, self.dim)

    def linear_term(self, z: torch.Tensor) -> torch.Tensor:
        """``b(z)``: ``(..., [out_features,] n)``."""
        b = z @ (self.b_weight * self.b_mask).T + self.b_bias
        return b if self.out_features is None else b.reshape(*z.shape[:-1], -1, self.dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.solve(z).value

    def solve(self, z: torch.Tensor):
        """The full ``Solution`` (value, minimizer ``x``, ``X = x xᵀ``) for inputs ``z``."""
        return self.solver(self.pencil(z), self.linear_term(z))

    def feature_sensitivity(self) -> torch.Tensor:
        """Differentiable ``s_i = ‖A_i‖_op + 2‖b_i‖``: ``([out_features,] in_features)``, with
        ``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| s_i`` for every ``z`` and ``ε``."""
        A = self.pencil.feature_matrices()
        return torch.linalg.matrix_norm(A, ord=2) + 2 * self.feature_vectors().norm(dim=-1)

    def feature_bounds(self) -> torch.Tensor:
        """``feature_sensitivity()``, detached."""
        with torch.no_grad():
            return self.feature_sensitivity()

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}"
        if self.out_features is not None:
            s += f", out_features={self.out_features}"
        s += f", dim={self.dim}, structure={self.structure!r}, ball={self.ball}"
        if self.pencil.monotone:
            s += f", monotone={self.pencil.monotone}"
        return s + f", backend={self.solver.backend.name!r}"


class TrustRegionNeuron(_TrustRegion):
    """``f(z) = min_{‖x‖=1} xᵀA(z)x + 2b(z)ᵀx``: ``(..., in_features) → (...)`` (module
    docstring). ``structure``/``bandwidth``/``monotone`` go to the pencil, ``ball=True``
    relaxes the sphere to ``‖x‖ ≤ 1``, ``backend`` (``"eigen"``/``"sdp"``) to the layer."""

    def __init__(self, in_features: int, dim: int, structure: str = "dense",
                 bandwidth: int | None = None, monotone: dict | None = None, ball: bool = False,
                 backend: str = "eigen", *, backend_options: dict | None = None, device=None,
                 dtype=None):
        super().__init__(in_features, None, dim, structure, bandwidth, monotone, ball, backend,
                         backend_options, device, dtype)


class TrustRegionLayer(_TrustRegion):
    """``out_features`` trust-region neurons, ``(..., in_features) → (..., out_features)``, solved
    as one batch ``(..., out_features, n, n)`` in one ``OptLayer`` call. Arguments as in
    ``TrustRegionNeuron``."""

    def __init__(self, in_features: int, out_features: int, dim: int, structure: str = "dense",
                 bandwidth: int | None = None, monotone: dict | None = None, ball: bool = False,
                 backend: str = "eigen", *, backend_options: dict | None = None, device=None,
                 dtype=None):
        if out_features is None:
            raise ValueError("out_features must be a positive int (use TrustRegionNeuron for one)")
        super().__init__(in_features, out_features, dim, structure, bandwidth, monotone, ball,
                         backend, backend_options, device, dtype)
