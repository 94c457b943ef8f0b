"""SDP backend formulations beyond the Fantope: the S-lemma lift and the B-spectraplex.

* ``TrustRegion`` (theory/trust-region.md): with ``Y = [[X, x], [xᵀ, 1]] ⪰ 0``,
  ``min ⟨A, X⟩ + 2bᵀx`` s.t. ``tr X = 1`` (ball: ``tr X ≤ 1``) — tight by the S-lemma.
* ``GeneralizedSphereQP`` index 0, exact (theory/generalized-courant-fischer.md):
  ``min ⟨A, X⟩`` s.t. ``⟨B, X⟩ = 1``, ``X ⪰ 0``. Other indices and smoothed forms: the
  ``B``-Fantope terms, solved as the Fantope terms of ``C = L⁻¹AL⁻ᵀ`` (``B = LLᵀ``) in the
  variable ``Y = LᵀXL`` and mapped back, ``X = L⁻ᵀYL⁻¹``.

``X`` (and ``TrustRegion``'s ``x``) is the solver's optimum from ``linear_sdp``, differentiable
through the SDP's KKT system at the solver's primal–dual point (not through cvxpylayers, whose
diffcp derivative is wrong for Clarabel and PSD blocks ≥ 4×4: docs/sdp-derivative.md).

Values carry Danskin's gradients: ``⟨A, X⟩ + 2bᵀx`` at the detached optimum (``∂/∂A = X``,
``∂/∂b = 2x``) and, for the ``B``-constraint, ``⟨A, X⟩ − v(⟨B, X⟩ − 1)`` with the detached
optimal value ``v`` as the constraint's multiplier (``∂/∂B = −vX``), which leaves the value
unchanged. Like the Fantope path, data is scaled to unit size before the solve (the
solver's tolerances are absolute) and every point is certified: feasible within
``feasibility_tol`` and optimal within ``optimality_tol`` (relative) against the eigen
backend's closed form computed with LAPACK in float64.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import GeneralizedSphereQP, TrustRegion
from ..solution import Solution
from .dispatch import SDP
from .eigen_generalized import cholesky_factor, generalized_eigenpairs
from .eigen_trust_region import trust_region_minimizer
from .linear_sdp import LinearSDPDerivative, solve_linear_sdp
from .sdp_errors import SDPSolverError

__all__ = ["solve_trust_region_sdp", "solve_generalized_sdp"]


def _solve(backend, S, M, c, p_eq: int, what: str):
    """``LinearSDPDerivative`` of the SDP ``(S, M, c)`` (``linear_sdp``): the solver's optimal
    ``Y``, differentiable w.r.t. ``S`` and ``M``; ``SDPSolverError`` naming the status if the
    solver fails or calls its answer anything but (almost) solved."""
    try:
        solved = solve_linear_sdp(S.detach(), M.detach(), c, p_eq, backend.solver_args)
    except Exception as err:  # a solver that raises carries its status in the message
        raise SDPSolverError(f"SDP solve failed for {what}: status: {type(err).__name__}: {err}") \
            from err
    for status in solved.statuses:
        if not status.lower().startswith(("solved", "almostsolved")):
            raise SDPSolverError(f"SDP solver returned no optimal point for {what} (status: not "
                                 f"optimal: the solver reported {status!r})")
    return LinearSDPDerivative.apply(S, M, solved, p_eq, what)


def _trust_region_constraints(n: int, ball: bool):
    """``(M (2, n+1, n+1), c)`` of the S-lemma lift: ``Y_nn = 1``, then ``tr X = 1`` (ball:
    ``≤ 1``, the one inequality); ``Y = [[X, x], [xᵀ, 1]]``."""
    M = torch.zeros(2, n + 1, n + 1, dtype=torch.float64)
    M[0, n, n] = 1.0
    M[1, range(n), range(n)] = 1.0
    return M, torch.ones(2, dtype=torch.float64), 1 if ball else 2


def _certify(backend, what, *, psd_min, residual, gap, scale) -> None:
    """Raise ``SDPSolverError`` unless ``psd_min ≥ −tol``, ``|residual| ≤ tol`` and
    ``|gap| ≤ optimality_tol · scale`` (all ``(N,)`` tensors, ``tol = feasibility_tol``)."""
    tol = backend.feasibility_tol
    if not bool(torch.isfinite(psd_min).all() & torch.isfinite(gap).all()):
        raise SDPSolverError(f"SDP solver returned a non-finite point for {what} (status: failure)")
    low, worst_residual = psd_min.min().item(), residual.abs().max().item()
    if low < -tol or worst_residual > tol:
        raise SDPSolverError(
            f"SDP solver returned an infeasible point for {what} (status: infeasible/inaccurate):"
            f" smallest eigenvalue {low:.2e}, constraint residual {worst_residual:.2e}, "
            f"tolerance {tol:.1e}"
        )
    relative = (gap.abs() / scale.clamp_min(torch.finfo(torch.float64).tiny)).max().item()
    if relative > backend.optimality_tol:
        raise SDPSolverError(
            f"SDP solver returned a feasible but not optimal point for {what} (status: not "
            f"optimal): objective gap {relative:.2e} relative, tolerance "
            f"{backend.optimality_tol:.1e}; the solver likely stopped early or its "
            f"tolerances are loose"
        )


def _dense_flat(A, n):
    dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
    return dense.reshape(-1, n, n)


@SDP.solves(TrustRegion)
def solve_trust_region_sdp(backend, problem: TrustRegion, A, b) -> Solution:
    """``TrustRegion`` by the S-lemma SDP: value, ``X`` (differentiable), ``x``."""
    n, batch = A.shape[-1], A.shape[:-2]
    flat_A, flat_b = _dense_flat(A, n), b.reshape(-1, n)
    if flat_A.shape[0] == 0:
        zeros = flat_A.new_zeros(batch)
        return Solution(zeros, flat_A.new_zeros(*batch, n, n), flat_b.new_zeros(*batch, n))
    A64, b64 = flat_A.to("cpu", torch.float64), flat_b.to("cpu", torch.float64)
    with torch.no_grad():
        size = torch.maximum(torch.linalg.matrix_norm(A64, 2), b64.norm(dim=-1))
        scale = torch.where(size > 0, size, torch.ones_like(size))
        _, reference, _ = trust_region_minimizer(A64, b64, problem.ball, "lapack")
    # Ŝ = [[A, b], [bᵀ, 0]]: ⟨Ŝ, Y⟩ = ⟨A, X⟩ + 2bᵀx
    S = torch.cat([torch.cat([A64, b64.unsqueeze(-1)], -1),
                   torch.cat([b64, b64.new_zeros(b64.shape[0], 1)], -1).unsqueeze(-2)], -2)
    M, c, p_eq = _trust_region_constraints(n, problem.ball)
    Y = _solve(backend, S / scale[:, None, None], M.expand(S.shape[0], -1, -1, -1), c, p_eq,
               f"TrustRegion(ball={problem.ball}) (n={n})")
    X, x = Y[:, :n, :n], Y[:, :n, n]
    Xd, xd = X.detach(), x.detach()
    with torch.no_grad():
        objective = (A64 * Xd).sum((-2, -1)) + 2 * (b64 * xd).sum(-1)
        trace = Xd.diagonal(dim1=-2, dim2=-1).sum(-1)
        residual = (trace - 1).clamp_min(0) if problem.ball else trace - 1
        residual = torch.maximum(residual.abs(), (Y.detach()[:, n, n] - 1).abs())
        psd_min = torch.linalg.eigvalsh(Y.detach()).amin(-1)
        _certify(backend, "a TrustRegion problem", psd_min=psd_min, residual=residual,
                 gap=objective - reference, scale=scale)
    Xd, xd = Xd.to(flat_A.device, flat_A.dtype), xd.to(flat_A.device, flat_A.dtype)
    value = (flat_A * Xd).sum((-2, -1)) + 2 * (flat_b * xd).sum(-1)
    X, x = X.to(flat_A.device, flat_A.dtype), x.to(flat_A.device, flat_A.dtype)
    return Solution(value.reshape(batch), X.reshape(*batch, n, n), x.reshape(*batch, n))


@SDP.solves(GeneralizedSphereQP)
def solve_generalized_sdp(backend, problem: GeneralizedSphereQP, A, B) -> Solution:
    """``GeneralizedSphereQP`` as an SDP (module docstring): value and ``X``."""
    n, batch = A.shape[-1], A.shape[:-2]
    flat_A, flat_B = _dense_flat(A, n), B.reshape(-1, n, n)
    if flat_A.shape[0] == 0:
        return Solution(flat_A.new_zeros(batch), flat_A.new_zeros(*batch, n, n), None)
    if problem.index == 0 and problem.smoothing is None:
        value, X = _b_spectraplex(backend, flat_A, flat_B)
    else:
        value, X = _b_fantope(backend, problem, flat_A, flat_B)
    return Solution(value.reshape(batch), X.reshape(*batch, n, n), None)


def _b_spectraplex(backend, flat_A, flat_B):
    """Index 0: ``min ⟨A, X⟩ s.t. ⟨B, X⟩ = 1, X ⪰ 0``, scaled, certified, with Danskin's value."""
    n = flat_A.shape[-1]
    A64, B64 = flat_A.to("cpu", torch.float64), flat_B.to("cpu", torch.float64)
    with torch.no_grad():
        cholesky_factor(B64)  # a B that is not positive definite is the caller's error
        a_size = torch.linalg.matrix_norm(A64, 2)
        a_scale = torch.where(a_size > 0, a_size, torch.ones_like(a_size))
        b_scale = torch.linalg.matrix_norm(B64, 2)
        reference, *_ = generalized_eigenpairs(
            GeneralizedSphereQP(0), A64.detach(), B64.detach(), "lapack")
    # ⟨B/s_B, X'⟩ = 1 gives X' = s_B X and objective ⟨A/s_A, X'⟩ = (s_B/s_A) v
    Xs = _solve(backend, A64 / a_scale[:, None, None], (B64 / b_scale[:, None, None])[:, None],
                torch.ones(1, dtype=torch.float64), 1, f"GeneralizedSphereQP(0) (n={n})")
    X = Xs / b_scale[:, None, None]
    Xd = X.detach()
    with torch.no_grad():
        objective = (A64 * Xd).sum((-2, -1))
        residual = (B64 * Xd).sum((-2, -1)) - 1
        # X is measured in B's units: its eigenvalues scale like 1/‖B‖
        psd_min = torch.linalg.eigvalsh(Xs.detach()).amin(-1)
        # the value's conditioning: |λ_0(A, B)| ≤ ‖A‖ ‖B⁻¹‖
        _certify(backend, "a GeneralizedSphereQP problem", psd_min=psd_min, residual=residual,
                 gap=objective - reference, scale=torch.maximum(reference.abs(), a_scale / b_scale))
        multiplier = reference.to(flat_A.device, flat_A.dtype)
    Xd = Xd.to(flat_A.device, flat_A.dtype)
    # ⟨B, X⟩ − ⟨B, X⟩ is zero in value; differentiated in B only, it gives ∂/∂B = −vX
    residual = (flat_B * Xd).sum((-2, -1)) - (flat_B.detach() * Xd).sum((-2, -1))
    value = (flat_A * Xd).sum((-2, -1)) - multiplier * residual
    return value, X.to(flat_A.device, flat_A.dtype)


def _b_fantope(backend, problem, flat_A, flat_B):
    """Any index or smoothing: the reduced problem's Fantope terms on ``C = L⁻¹AL⁻ᵀ``; autograd
    through the (differentiable) reduction carries the gradient to ``A`` and ``B``."""
    L = cholesky_factor(flat_B)
    C = torch.linalg.solve_triangular(L, torch.linalg.solve_triangular(L, flat_A, upper=False).mT,
                                      upper=False)
    C = C / 2 + C.mT / 2
    solution = backend.solve_spectral(problem.reduced, C)
    Y = solution.X
    X = torch.linalg.solve_triangular(L.mT, torch.linalg.solve_triangular(L.mT, Y, upper=True).mT,
                                      upper=True)
    return solution.value, X / 2 + X.mT / 2
