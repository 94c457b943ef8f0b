"""Spectral neurons: ``f(z) = λ_k(A_0 + Σ_i z_i A_i)`` as PyTorch modules.

A ``SpectralNeuron`` is a pencil (``optneuron.pencils``) followed by an ``OptLayer`` solving
``SphereQP(index, smoothing)``; a ``SpectralLayer`` is ``out_features`` independent neurons
whose matrices form one batch ``(..., out_features, n, n)``, solved in one call.

What the structure guarantees, for every parameter value (docs/design.md, "Shape by
construction"; proofs in theory/shape.md and theory/weyl-certificates.md):
``monotone={i: +1}`` makes ``f`` nondecreasing in ``z_i`` (``-1``: nonincreasing);
``index=0`` makes ``f`` concave, ``index=-1`` convex; and
``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| ‖A_i‖_op`` (Weyl), see ``feature_bounds``.
"""

from __future__ import annotations

import torch
from torch import nn

from .layer import OptLayer, full_precision
from .pencils import bound_matrix_norm, make_pencil
from .problems import EigenvalueMixture, FantopeTerm, SphereQP
from .validation import check_index, check_int

__all__ = ["SpectralNeuron", "SpectralLayer", "SpectralMixture", "SpectralMixtureLayer",
           "SpectralObservables"]


def _resolve_index(index, dim: int) -> int:
    if index is None:
        # The lower middle eigenvalue for even dim: (dim − 1) // 2.
        return (dim - 1) // 2
    return check_index("index", index, dim, what="dim")


class _PencilModule(nn.Module):
    """What every neuron here shares: a ``pencil`` and a ``solver`` (an ``OptLayer``), whose
    structure, monotone features and smoothing it reports."""

    @property
    def structure(self) -> str:
        return self.pencil.structure

    @property
    def monotone(self) -> dict:
        return self.pencil.monotone

    @property
    def smoothing(self) -> float | None:
        return self.solver.problem.smoothing


class _Spectral(_PencilModule):
    """Shared body of ``SpectralNeuron`` and ``SpectralLayer``: a ``pencil`` and a ``solver``.

    Other modules recognize a spectral module by its ``pencil`` attribute (a ``Pencil``), not
    by this class, so that ``certify`` needs nothing private from here.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int | None,
        dim: int,
        index: int | None = None,
        structure: str = "dense",
        bandwidth: int | None = None,
        monotone: dict | None = None,
        backend: str = "eigen",
        smoothing: float | None = None,
        backend_options: dict | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.pencil = make_pencil(
            in_features,
            dim,
            structure=structure,
            bandwidth=bandwidth,
            monotone=monotone,
            out_features=out_features,
            device=device,
            dtype=dtype,
        )
        self.in_features = self.pencil.in_features
        self.out_features = self.pencil.out_features
        self.dim = self.pencil.dim
        self.index = _resolve_index(index, self.dim)
        self.solver = OptLayer(
            SphereQP(self.index, smoothing=smoothing), backend, **(backend_options or {})
        )

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Near-affine initialization of the pencil (see ``optneuron.pencils.Pencil``)."""
        self.pencil.reset_parameters(generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.solve(z).value

    def solve(self, z: torch.Tensor):
        """The full ``Solution`` (value, lifted ``X``, eigenvector ``x``) for inputs ``z``.

        Under ``torch.autocast`` (or for half-precision ``z``) the pencil and the solve run in
        float32 and the output is float32."""
        with torch.autocast(z.device.type, enabled=False):
            return self.solver(self.pencil(full_precision(z)))

    def to_cvxpy(self, z):
        """The output as an exact cvxpy function of the expression ``z`` (``optneuron.export``)."""
        from .export import to_cvxpy

        return to_cvxpy(self, z)

    # The pencil owns its operator norms; certify.py composes them through networks.
    def feature_bounds(self) -> torch.Tensor:
        """``‖A_i‖_op`` per feature (detached): ``(in_features,)`` or ``(out, in_features)``.

        ``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| ‖A_i‖_op`` (Weyl) for every ``z`` and ``ε``.
        """
        with torch.no_grad():
            return self.pencil.operator_norms()

    def lipschitz_bound(self, norm: str = "l2") -> float:
        """Certified Lipschitz constant w.r.t. ``norm`` (``"l2"`` or ``"linf"``) of the input:
        ``‖B‖₂`` or ``‖B‖_∞`` of the bounds ``B = feature_bounds()``."""
        return self.pencil.lipschitz_bound(norm)

    def spectral_penalty(self) -> torch.Tensor:
        """Differentiable ``Σ_i ‖A_i‖_op`` (summed over neurons), for regularization."""
        return self.pencil.operator_norms().sum()

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}"
        if self.out_features is not None:
            s += f", out_features={self.out_features}"
        s += f", dim={self.dim}, index={self.index}, structure={self.structure!r}"
        if self.pencil.has_bandwidth_option:
            s += f", bandwidth={self.pencil.bandwidth}"
        if self.monotone:
            s += f", monotone={self.monotone}"
        s += f", backend={self.solver.backend.name!r}"
        if self.smoothing is not None:
            s += f", smoothing={self.smoothing}"
        return s


class SpectralNeuron(_Spectral):
    """``f(z) = λ_k(A_0 + Σ_i z_i A_i)``: ``(..., in_features) → (...)``.

    ``index=None`` picks the middle eigenvalue ``(dim − 1) // 2`` (the lower of the two middle
    ones when ``dim`` is even); ``index=0`` is concave in ``z``, ``index=-1`` convex.
    ``structure`` (a registered pencil structure: ``"dense"``, ``"tridiagonal"``, ``"banded"``
    with ``bandwidth``, see ``optneuron.pencils.pencil_structures``) and
    ``monotone={feature: ±1}`` go to the pencil; ``backend`` (``"eigen"`` or ``"sdp"``) and
    ``smoothing=α`` (Moreau-smoothed eigenvalue, exact as ``α → 0``) to the ``OptLayer``.
    ``neuron.pencil(z)`` returns the matrices it solves (dense or ``SymTridiagonal``).
    Initialization is near affine (see ``optneuron.pencils.Pencil``).
    """

    def __init__(
        self,
        in_features: int,
        dim: int,
        index: int | None = None,
        structure: str = "dense",
        bandwidth: int | None = None,
        monotone: dict | None = None,
        backend: str = "eigen",
        smoothing: float | None = None,
        *,
        backend_options: dict | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_features, None, dim, index, structure, bandwidth, monotone, backend, smoothing,
            backend_options, device, dtype,
        )


class SpectralLayer(_Spectral):
    """``out_features`` independent spectral neurons: ``(..., in_features) → (..., out_features)``.

    Neuron ``j`` computes ``λ_k(A_0^j + Σ_i z_i A_i^j)``; all matrices are built by one batched
    linear map into ``(..., out_features, n, n)`` and solved in one ``OptLayer`` call (no loop
    over neurons). Arguments as in ``SpectralNeuron``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        dim: int,
        index: int | None = None,
        structure: str = "dense",
        bandwidth: int | None = None,
        monotone: dict | None = None,
        backend: str = "eigen",
        smoothing: float | None = None,
        *,
        backend_options: dict | None = None,
        device=None,
        dtype=None,
    ):
        if out_features is None:
            raise ValueError("out_features must be a positive int (use SpectralNeuron for one)")
        super().__init__(
            in_features, out_features, dim, index, structure, bandwidth, monotone, backend,
            smoothing, backend_options, device, dtype,
        )


# --- mixtures of eigenvalues -------------------------------------------------------------

_INITS = ("haversine", "uniform", "window")
_SHAPES = (None, "concave", "convex")


def _initial_weights(weights, dim: int, half_width: int) -> torch.Tensor:
    """The starting mixing weights ``(dim,)`` (float64) from a name or a tensor."""
    if isinstance(weights, str):
        if weights not in _INITS:
            raise ValueError(f"weights must be one of {_INITS} or a tensor, got {weights!r}")
        if weights == "haversine":
            return EigenvalueMixture.haversine(dim, dtype=torch.float64)
        if weights == "uniform":
            return torch.full((dim,), 1.0 / dim, dtype=torch.float64)
        w = EigenvalueMixture.window(dim, (dim - 1) // 2, half_width, dtype=torch.float64)
        return w / w.sum()
    w = torch.as_tensor(weights).detach().to(torch.float64)
    if w.shape != (dim,):
        raise ValueError(f"weights must have shape ({dim},) (dim), got {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("weights has non-finite entries (nan or inf)")
    return w


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    # softplus can only approach 0: a zero weight or increment starts at a small positive one
    y = y.clamp_min(1e-4)
    return y + torch.log(-torch.expm1(-y))


class _Mixture(_PencilModule):
    """Shared body of ``SpectralMixture`` and ``SpectralMixtureLayer``.

    The mixing weights ``w`` are a function of the parameter ``weight_params`` that keeps the
    shape for every parameter value (theory/mixture-shape.md):

    * ``shape=None`` and no monotone feature: ``w = weight_params``;
    * ``shape="concave"``: ``w_{n−1} = p_{n−1}`` and ``w_{m−1} − w_m = softplus(p_{m−1})``
      (nonincreasing over ascending eigenvalues: a nonnegative combination of Ky Fan minima
      ``F_m`` plus a multiple of ``tr A``, concave in ``z``); ``"convex"`` the mirror image
      (nondecreasing, convex in ``z``);
    * ``monotone`` features (``A_i ⪰ 0`` or ``⪯ 0``, each ``λ_k`` monotone in ``z_i``) need
      ``w ≥ 0``: then the free end (or, with ``shape=None``, every weight) goes through
      ``softplus`` too.

    A shaped start sorts the initial weights into the shape's order; zero weights or
    increments start at ``1e-4`` where ``softplus`` is used.
    """

    def __init__(self, in_features, out_features, dim, weights="haversine", shape=None,
                 structure="dense", bandwidth=None, monotone=None, half_width=1,
                 backend="eigen", smoothing=None, backend_options=None, device=None,
                 dtype=None):
        super().__init__()
        if shape not in _SHAPES:
            raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
        self.pencil = make_pencil(in_features, dim, structure=structure, bandwidth=bandwidth,
                                  monotone=monotone, out_features=out_features, device=device,
                                  dtype=dtype)
        self.in_features, self.out_features = self.pencil.in_features, self.pencil.out_features
        self.dim = self.pencil.dim
        self.shape = shape
        self.half_width = check_int("half_width", half_width, low=0)
        self.initial_weights = weights if isinstance(weights, str) else "tensor"
        self._start = _initial_weights(weights, self.dim, self.half_width)
        rows = () if out_features is None else (out_features,)
        self.weight_params = nn.Parameter(
            torch.empty(*rows, self.dim, device=device, dtype=self.pencil.bias.dtype))
        self.solver = OptLayer(EigenvalueMixture(smoothing=smoothing), backend,
                               **(backend_options or {}))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The pencil's near-affine start and the initial mixing weights."""
        self.pencil.reset_parameters(generator=generator)
        w = self._start
        nonnegative = bool(self.monotone)
        if self.shape is None:
            p = _inverse_softplus(w) if nonnegative else w
        else:
            w = w.sort(descending=self.shape == "concave").values
            steps = w[:-1] - w[1:] if self.shape == "concave" else w[1:] - w[:-1]
            end = w[-1:] if self.shape == "concave" else w[:1]
            end = _inverse_softplus(end) if nonnegative else end
            steps = _inverse_softplus(steps.abs())
            p = torch.cat([steps, end]) if self.shape == "concave" else torch.cat([end, steps])
        with torch.no_grad():
            self.weight_params.copy_(p.to(self.weight_params.dtype).expand_as(self.weight_params))

    def mixing_weights(self) -> torch.Tensor:
        """``w``: ``([out_features,] dim)`` over ascending eigenvalues (differentiable)."""
        p = self.weight_params
        softplus = nn.functional.softplus
        nonnegative = bool(self.monotone)
        if self.shape is None:
            return softplus(p) if nonnegative else p
        if self.shape == "concave":
            end = softplus(p[..., -1:]) if nonnegative else p[..., -1:]
            steps = softplus(p[..., :-1])
            # w_k = w_{n−1} + Σ_{m>k} (w_{m−1} − w_m): reversed cumulative sum of the steps
            tail = steps.flip(-1).cumsum(-1).flip(-1)
            return torch.cat([end + tail, end], -1)
        end = softplus(p[..., :1]) if nonnegative else p[..., :1]
        return torch.cat([end, end + softplus(p[..., 1:]).cumsum(-1)], -1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.solve(z).value

    def solve(self, z: torch.Tensor):
        """The full ``Solution`` (value, ``X = Q diag(w) Qᵀ``) for inputs ``z``."""
        return self.solver(self.pencil(z), self.mixing_weights())

    def feature_sensitivity(self) -> torch.Tensor:
        """Differentiable ``s_i = max(g(A_i), g(−A_i))``, ``g(M) = ⟨sort(w), λ(M)⟩``:
        ``([out_features,] in_features)``, with ``|f(z+ε) − f(z)| ≤ Σ_i |ε_i| s_i`` for every
        ``z`` and ``ε`` (Lidskii; theory/mixture-certificate.md). ``s_i ≤ ‖w‖₁ ‖A_i‖_op``."""
        A = self.pencil.feature_matrices()  # ([out,] in, n, n)
        mu = torch.linalg.eigvalsh(A)  # ascending
        w = self.mixing_weights().sort(-1).values.unsqueeze(-2)  # ([out,] 1, n)
        up = (w * mu).sum(-1)
        down = (w * -mu.flip(-1)).sum(-1)  # λ(−A_i) ascending is −λ(A_i) reversed
        return torch.maximum(up, down)

    def feature_bounds(self) -> torch.Tensor:
        """``feature_sensitivity()``, detached."""
        with torch.no_grad():
            return self.feature_sensitivity()

    def lipschitz_bound(self, norm: str = "l2") -> float:
        """Certified Lipschitz constant w.r.t. ``norm`` (``"l2"`` or ``"linf"``):
        ``bound_matrix_norm`` of ``feature_bounds()``."""
        return bound_matrix_norm(self.feature_bounds(), norm)

    def spectral_penalty(self) -> torch.Tensor:
        """Differentiable ``Σ_i s_i`` (summed over mixtures), for regularization."""
        return self.feature_sensitivity().sum()

    def fantope_terms(self) -> list[tuple[FantopeTerm, ...]]:
        """Per mixture, the signed Ky Fan terms whose sum is its value (floats, zero terms
        dropped): ``c_{m−1} F_m`` (``EigenvalueMixture.ky_fan_coefficients``; smoothed:
        ``c_{m−1} E^α_m``), ``m = n`` being the trace term. What ``to_cvxpy`` exports."""
        with torch.no_grad():
            coefs, largest = self.solver.problem.ky_fan_coefficients(self.mixing_weights())
        rows = coefs.reshape(-1, self.dim).to(torch.float64).tolist()
        return [tuple(FantopeTerm(c, m + 1, largest) for m, c in enumerate(row) if c != 0)
                for row in rows]

    def to_cvxpy(self, z):
        """The output as an exact cvxpy function of the expression ``z`` (``optneuron.export``):
        concave for ``shape="concave"``, convex for ``"convex"``, else a difference of concave
        functions."""
        from .export import to_cvxpy

        return to_cvxpy(self, z)

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}"
        if self.out_features is not None:
            s += f", out_features={self.out_features}"
        s += f", dim={self.dim}, weights={self.initial_weights!r}"
        if self.initial_weights == "window":
            s += f", half_width={self.half_width}"
        if self.shape is not None:
            s += f", shape={self.shape!r}"
        s += f", structure={self.structure!r}"
        if self.monotone:
            s += f", monotone={self.monotone}"
        s += f", backend={self.solver.backend.name!r}"
        if self.smoothing is not None:
            s += f", smoothing={self.smoothing}"
        return s


class SpectralMixture(_Mixture):
    """``f(z) = ⟨w, λ(A_0 + Σ_i z_i A_i)⟩`` with learnable mixing weights ``w``:
    ``(..., in_features) → (...)``.

    ``weights``: the start of ``w`` over ascending eigenvalues — ``"haversine"`` (``w_i ∝ 1 +
    cos(π(i − s)/s)``, ``s`` the middle; ``EigenvalueMixture.haversine``), ``"uniform"``
    (``1/dim``), ``"window"`` (equal weights on the middle ``± half_width``) or a ``(dim,)``
    tensor. ``shape="concave"`` keeps ``w`` nonincreasing (``f`` concave in ``z``),
    ``"convex"`` nondecreasing (``f`` convex); ``monotone={i: ±1}`` makes ``A_i ⪰ 0`` (``⪯ 0``)
    *and* ``w ≥ 0`` so that ``f`` is monotone in ``z_i`` (the parametrization: ``_Mixture``).
    ``structure``, ``bandwidth`` go to the pencil; ``backend``, ``smoothing`` to the
    ``OptLayer(EigenvalueMixture(smoothing))``. Certificate: ``feature_sensitivity``.
    """

    def __init__(self, in_features: int, dim: int, weights="haversine", shape: str | None = None,
                 structure: str = "dense", monotone: dict | None = None, *, half_width: int = 1,
                 bandwidth: int | None = None, backend: str = "eigen",
                 smoothing: float | None = None, backend_options: dict | None = None,
                 device=None, dtype=None):
        super().__init__(in_features, None, dim, weights, shape, structure, bandwidth, monotone,
                         half_width, backend, smoothing, backend_options, device, dtype)


class SpectralMixtureLayer(_Mixture):
    """``out_features`` independent mixtures, ``(..., in_features) → (..., out_features)``, each
    with its own pencil and weights, solved as one batch ``(..., out_features, n, n)`` in one
    ``OptLayer`` call. Arguments as in ``SpectralMixture``."""

    def __init__(self, in_features: int, out_features: int, dim: int, weights="haversine",
                 shape: str | None = None, structure: str = "dense",
                 monotone: dict | None = None, *, half_width: int = 1,
                 bandwidth: int | None = None, backend: str = "eigen",
                 smoothing: float | None = None, backend_options: dict | None = None,
                 device=None, dtype=None):
        if out_features is None:
            raise ValueError("out_features must be a positive int (use SpectralMixture for one)")
        super().__init__(in_features, out_features, dim, weights, shape, structure, bandwidth,
                         monotone, half_width, backend, smoothing, backend_options, device,
                         dtype)


class SpectralObservables(nn.Module):
    """Observables of the minimizer: ``y_j(z) = ⟨x(z), C_j x(z)⟩``, ``(..., in_features) →
    (..., observables)``.

    ``x(z)`` is the unit eigenvector ``q_k`` of the pencil ``A(z) = A_0 + Σ_i z_i A_i`` (the
    minimizer of ``SphereQP(index)``) and ``C_j`` are learned symmetric ``dim × dim`` matrices
    (``weight``, symmetrized in ``forward``; for ``structure="tridiagonal"`` too, any ``C_j``).
    ``y_j = ⟨C_j, q_k q_kᵀ⟩`` does not depend on the sign of ``q_k``. With ``smoothing=α`` the
    lifted ``X^α = Q diag(w) Qᵀ`` replaces ``q_k q_kᵀ``: ``y_j = ⟨C_j, X^α⟩`` is then smooth
    everywhere, ``(‖C_j‖_F/α)``-Lipschitz in ``A`` (theory/solution-derivatives.md). Arguments
    as in ``SpectralNeuron``; the gradient is the eigen backend's solution derivative
    (``backends/eigen_solution.py``), which scales as ``1/gap`` and raises ``ValueError`` at an
    exact tie of ``λ_k`` (exact problem only).

    Certificates that do **not** carry over from ``SpectralNeuron``: the Weyl/Lipschitz bounds
    (``feature_bounds``, ``certify``) bound eigenvalues, not eigenvectors, whose sensitivity is
    ``‖A_i‖/gap``, unbounded near a tie; ``monotone=`` makes ``λ_k`` monotone, not ``y``; the
    concavity/convexity of ``index=0``/``-1`` and the ``to_cvxpy`` export do not hold for ``y``.
    So the pencil is kept as ``matrices`` (not ``pencil``): ``certify`` and ``export`` do not
    mistake this module for a spectral one. ``|y_j| ≤ ‖C_j‖_op`` holds for every ``z``.
    """

    def __init__(
        self,
        in_features: int,
        dim: int,
        observables: int,
        index: int | None = None,
        structure: str = "dense",
        bandwidth: int | None = None,
        monotone: dict | None = None,
        backend: str = "eigen",
        smoothing: float | None = None,
        *,
        backend_options: dict | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.observables = check_int("observables", observables, low=1)
        self.matrices = make_pencil(in_features, dim, structure=structure, bandwidth=bandwidth,
                                    monotone=monotone, device=device, dtype=dtype)
        self.in_features, self.dim = self.matrices.in_features, self.matrices.dim
        self.index = _resolve_index(index, self.dim)
        self.solver = OptLayer(
            SphereQP(self.index, smoothing=smoothing), backend, **(backend_options or {})
        )
        self.weight = nn.Parameter(torch.empty(self.observables, self.dim, self.dim,
                                               device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The pencil's near-affine initialization; ``C_j`` Gaussian, scaled by ``1/√dim``."""
        self.matrices.reset_parameters(generator=generator)
        with torch.no_grad():
            W = torch.randn(self.weight.shape, generator=generator, dtype=self.weight.dtype)
            self.weight.copy_(W / self.dim ** 0.5)

    def observable_matrices(self) -> torch.Tensor:
        """The symmetric ``C_j``: ``(observables, dim, dim)``."""
        return (self.weight + self.weight.mT) / 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        with torch.autocast(z.device.type, enabled=False):
            solution = self.solver(self.matrices(full_precision(z)))
            C = self.observable_matrices()
            if solution.x is not None:  # exact: x (..., n) — cheaper than X in backward
                return torch.einsum("...i,oij,...j->...o", solution.x, C, solution.x)
            return torch.einsum("...ij,oij->...o", solution.X, C)

    def extra_repr(self) -> str:
        s = (f"in_features={self.in_features}, dim={self.dim}, observables={self.observables}, "
             f"index={self.index}, structure={self.matrices.structure!r}")
        if self.solver.problem.smoothing is not None:
            s += f", smoothing={self.solver.problem.smoothing}"
        return s
