"""One PSD block with linear constraints: solved by Clarabel (or SCS), differentiated by its KKT.

The SDP, for a symmetric ``S (N, N)`` and constraint matrices ``A_i`` (``p`` of them, the first
``p_eq`` equalities, the rest inequalities),

    min { ⟨S, Y⟩ : ⟨A_i, Y⟩ = c_i (i < p_eq),  ⟨A_i, Y⟩ ≤ c_i (i ≥ p_eq),  Y ⪰ 0 },

is posed like the Fantope SDP (``fantope_sdp``: ``x = svec(Y)`` in the solver's order, rows
``⟨A_i, Y⟩`` in a zero and a nonnegative cone, then ``svec Y ∈ PSD``). With the solver's duals
``ν_i = −z_i`` (``ν_i ≤ 0`` on inequalities) and ``Z = smat(z_PSD)``, the KKT conditions are
``S − Σ ν_i A_i − Z = 0``, the constraints, ``ν_i s_i = 0`` (``s_i = c_i − ⟨A_i, Y⟩``) and
``YZ = 0``, ``Y, Z ⪰ 0``. The S-lemma lift of ``TrustRegion`` and the ``B``-spectraplex of
``GeneralizedSphereQP`` are of this form (``sdp_forms``).

**Derivative.** Where the solution map is differentiable (strict complementarity and a unique
primal–dual point: the KKT Jacobian is nonsingular, Alizadeh–Haeberly–Overton 1998), its
linearization in ``(svec dY, svec dZ, dν)`` is ``fantope_sdp.kkt_matrix`` with these rows
(``LinearRows``): ``−dZ − Σ dν_i A_i = −dS + Σ ν_i dA_i``, ``Z dY + dY Z + Y dZ + dZ Y = 0``,
``ρ_i⟨A_i, dY⟩ + σ_i dν_i = −ρ_i⟨dA_i, Y⟩``. Backward solves ``Kᵀa = [svec(∂L/∂Y); 0; 0]``:
``∂L/∂S = −smat(a_stat)`` and ``∂L/∂A_i = ν_i smat(a_stat) − ρ_i a_i Y``.

Where ``K`` is singular to the solver's accuracy — the trust-region hard case (two minimizers,
a rank-two optimal ``Y``), a tie at the bottom of the pencil, an inequality with zero slack and
zero multiplier — there is no derivative, and backward raises ``ValueError`` instead of
returning ``K``'s noise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .fantope_sdp import (
    LinearRows,
    kkt_matrix,
    map_batch,
    smat,
    solve_one,
    split_solver_args,
    svec,
)

__all__ = ["LinearSDPDerivative", "LinearSDPSolve", "solve_linear_sdp"]

# K's smallest singular value relative to its largest below this: no derivative (the solver's
# 1e-12 tolerances put a truly singular K near 1e-12; a differentiable point with a gap δ
# in its data has ~δ here)
SINGULAR = 1e-9
# An inequality whose slack and multiplier are both below this (the data being scaled to unit
# size) is not strictly complementary: at the ball's kink the interior-point solver stops with
# both near 1e-8 (seen: slack 2e-8, multiplier 8e-10), which leaves K far from singular
COMPLEMENTARY = 1e-6


class LinearSDPSolve(NamedTuple):
    """Solver output for a batch: primal ``Y``, duals ``nu (B, p)`` and ``Z``, slacks
    ``s (B, p)`` (``c − ⟨A_i, Y⟩``), float64, and the solvers' statuses."""

    Y: torch.Tensor
    nu: torch.Tensor
    Z: torch.Tensor
    slack: torch.Tensor
    statuses: list[str]


def _cones(solver: str, p_eq: int, p_ineq: int, N: int):
    if solver == "Clarabel":
        import clarabel

        cones = [clarabel.ZeroConeT(p_eq)] if p_eq else []
        cones += [clarabel.NonnegativeConeT(p_ineq)] if p_ineq else []
        return cones + [clarabel.PSDTriangleConeT(N)]
    return {"z": p_eq, "l": p_ineq, "s": [N]}


def solve_linear_sdp(S: torch.Tensor, M: torch.Tensor, c: torch.Tensor, p_eq: int,
                     solver_args: dict) -> LinearSDPSolve:
    """Solve the SDP (module docstring) for each ``S (B, N, N)`` with constraint matrices
    ``M (B, p, N, N)`` and right-hand sides ``c (p,)``, all float64 on the CPU (detached)."""
    import scipy.sparse as sp

    solver, settings = split_solver_args(solver_args)
    B, p, N, _ = M.shape
    t = N * (N + 1) // 2
    qs = svec(S.detach(), solver).numpy()
    rows = svec(M.detach(), solver).numpy()
    b = np.concatenate([c.numpy(), np.zeros(t)])
    cone = _cones(solver, p_eq, p - p_eq, N)
    P = sp.csc_matrix((t, t))
    psd = -sp.identity(t, format="csr")

    def one(k):
        A = sp.vstack([sp.csr_matrix(rows[k]), psd], format="csc")
        return solve_one(solver, P, qs[k], A, b, cone, settings)

    results = map_batch(one, B)
    x = torch.from_numpy(np.stack([r[0] for r in results]))
    z = torch.from_numpy(np.stack([r[1] for r in results]))
    Y = smat(x, N, solver)
    slack = c - (M * Y[:, None]).sum((-2, -1))
    return LinearSDPSolve(Y, -z[:, :p], smat(z[:, p:], N, solver), slack,
                          [r[2] for r in results])


class LinearSDPDerivative(torch.autograd.Function):
    """``Y*(S, M)`` at a solved point: forward returns ``Y``; backward is the adjoint of the
    implicit KKT derivative (module docstring), w.r.t. ``S (B, N, N)`` and the constraint
    matrices ``M (B, p, N, N)``.

    ``apply(S, M, solved, p_eq, what)`` with ``solved`` a ``LinearSDPSolve`` (float64) and
    ``what`` naming the problem in the error raised where there is no derivative.
    """

    @staticmethod
    def forward(ctx, S, M, solved, p_eq, what):
        ctx.p_eq, ctx.what = p_eq, what
        ctx.save_for_backward(M, solved.Y, solved.Z, solved.nu, solved.slack)
        return solved.Y.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_Y):
        M, Y, Z, nu, slack = ctx.saved_tensors
        B, p, N, _ = M.shape
        t = N * (N + 1) // 2
        equality = torch.arange(p) < ctx.p_eq
        rho = torch.where(equality, torch.ones_like(nu), -nu)
        sigma = torch.where(equality, torch.zeros_like(slack), slack)
        K = kkt_matrix(Y, Z, None, Y.new_zeros(B), LinearRows(svec(M), rho, sigma))
        singular_values = torch.linalg.svdvals(K)
        weak = ~equality & (torch.maximum(nu.abs(), slack.abs()) <= COMPLEMENTARY)
        if bool((singular_values[:, -1] <= SINGULAR * singular_values[:, 0]).any() | weak.any()):
            raise ValueError(
                f"Solution.X of {ctx.what} on the SDP backend is not differentiable here: the "
                "SDP's KKT system is singular at the solver's point, or an inequality has zero "
                "slack and zero multiplier (no unique, strictly complementary solution: the "
                "trust-region hard case or b = 0, a tied bottom "
                "generalized eigenvalue, or the ball's kink); detach it, or use the eigen backend"
                " (whose backward names the cause)"
            )
        rhs = Y.new_zeros(B, K.shape[-1])
        rhs[:, :t] = svec(grad_Y)
        adjoint = torch.linalg.solve(K.mT, rhs)
        a_stat = smat(adjoint[:, :t], N)
        a_primal = adjoint[:, 2 * t:]
        grad_M = None
        if ctx.needs_input_grad[1]:  # constraint matrices that are data (the B-spectraplex's B)
            grad_M = (nu[..., None, None] * a_stat[:, None]
                      - (rho * a_primal)[..., None, None] * Y[:, None])
        return -a_stat, grad_M, None, None, None
