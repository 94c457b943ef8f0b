"""The Fantope SDP in conic standard form: solved by Clarabel (or SCS), differentiated by its KKT.

The SDP, for a symmetric ``S`` and ``α ≥ 0`` (``α = 0``: the exact problem),

    F^α_m(S) = min { <S, X> + (α/2)‖X‖²_F : tr X = m, X ⪰ 0, I − X ⪰ 0 },

is posed in the solvers' common standard form ``min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K``
with ``x = svec(X)`` (off-diagonal entries scaled by √2, so ``svec(S)·svec(X) = <S, X>`` and
``‖svec X‖ = ‖X‖_F``): ``q = svec(S)``, ``P = αI``, and three blocks of rows — ``tr X = m``
(zero cone), ``svec(X) ∈ PSD``, ``svec(I − X) ∈ PSD``. For ``m = 1`` the last block is
dropped (``X ⪯ I`` is implied by ``X ⪰ 0``, ``tr X = 1``). The solvers' duals ``y`` give
``ν = −y₀``, ``Z = smat(y_PSD₁)``, ``W = smat(y_PSD₂)``, and the KKT conditions

    S + αX − νI − Z + W = 0,   tr X = m,   XZ = 0,   (I − X)W = 0,
    X ⪰ 0,  I − X ⪰ 0,  Z ⪰ 0,  W ⪰ 0.

**Derivative.** Under strict complementarity (``X + Z ≻ 0`` and ``(I − X) + W ≻ 0``: for the
exact problem, a gap ``λ_m − λ_{m−1} > 0`` between the selected eigenvalues and the rest),
the solution map is differentiable and ``dX`` solves the linearized KKT system, with the
complementarity written symmetrically (Alizadeh–Haeberly–Overton: ``XZ + ZX = 0`` defines
the same set for ``X, Z ⪰ 0``)::

    α dX − dZ + dW − dν I = −dS
    Z dX + dX Z + X dZ + dZ X = 0
    −W dX − dX W + (I − X) dW + dW (I − X) = 0
    tr dX = 0

in the unknowns ``(svec dX, svec dZ, svec dW, dν)``. ``FantopeKKTDerivative``'s backward
solves the transpose of this system at the solver's ``(X, Z, W)``: with ``K`` its matrix
and ``g = svec(∂L/∂X)``, ``∂L/∂S = −smat((K⁻ᵀ [g; 0; 0; 0])_dX-block)``. Nothing in it uses
an eigendecomposition of ``S``: it is an independent check of the eigen backend's
eigenvector / projector derivatives.

``kkt_matrix`` takes the linear constraints as an argument (``LinearRows``; default the one
row ``tr X = m``), which is how ``linear_sdp`` reuses it for the S-lemma lift and the
``B``-spectraplex.

Why not diffcp's derivative (what cvxpylayers calls): for PSD cones of size ≥ 4 solved by
Clarabel, diffcp 1.1.9 maps the solver's ``y`` and ``s`` back to SCS's vectorization with
the inverse of the permutation it should use, so its derivative is wrong (and its duals
scrambled); docs/sdp-derivative.md has the reproduction.
"""

from __future__ import annotations

import functools
import os
from multiprocessing.pool import ThreadPool
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "FantopeKKTDerivative", "FantopeSolve", "LinearRows", "kkt_matrix", "map_batch", "smat",
    "solve_fantope", "solve_one", "split_solver_args", "svec",
]

SOLVERS = ("Clarabel", "SCS")


@functools.cache
def _layout(n: int, solver: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and √2-weights of ``svec`` in the solver's order.

    Clarabel stacks the upper triangle column by column, SCS the lower triangle column by
    column (both scale off-diagonal entries by √2); ``"canonical"`` is numpy's
    ``triu_indices`` order, used where no solver is involved.
    """
    if solver == "Clarabel":
        pairs = [(i, j) for j in range(n) for i in range(j + 1)]
    elif solver == "SCS":
        pairs = [(i, j) for j in range(n) for i in range(j, n)]
    else:
        pairs = list(zip(*np.triu_indices(n)))
    rows = np.array([p[0] for p in pairs], dtype=np.int64)
    cols = np.array([p[1] for p in pairs], dtype=np.int64)
    weights = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return rows, cols, weights


def svec(M: torch.Tensor, solver: str = "canonical") -> torch.Tensor:
    """``svec(M) (..., n(n+1)/2)`` of symmetric ``M (..., n, n)``: ``svec(A)·svec(B) = <A, B>``.

    Entries ``M_ij`` of one triangle, off-diagonal ones times √2, in the ``solver``'s order.
    For a non-symmetric ``M`` it is ``svec`` of ``(M + Mᵀ)/2``, so it maps a gradient w.r.t.
    a symmetric matrix to the gradient w.r.t. its ``svec``.
    """
    rows, cols, weights = _layout(M.shape[-1], solver)
    w = torch.as_tensor(weights, dtype=M.dtype, device=M.device)
    return (M[..., rows, cols] + M[..., cols, rows]) / 2 * w


def smat(v: torch.Tensor, n: int, solver: str = "canonical") -> torch.Tensor:
    """The symmetric ``M (..., n, n)`` with ``svec(M, solver) = v``."""
    rows, cols, weights = _layout(n, solver)
    entries = v / torch.as_tensor(weights, dtype=v.dtype, device=v.device)
    M = v.new_zeros(*v.shape[:-1], n, n)
    M[..., rows, cols] = entries
    M[..., cols, rows] = entries
    return M


class FantopeSolve(NamedTuple):
    """Solver output for a batch: primal ``X`` and duals ``nu``, ``Z``, ``W`` (``W`` is
    ``None`` for ``m = 1``), float64, and each solve's status as the solver words it."""

    X: torch.Tensor
    nu: torch.Tensor
    Z: torch.Tensor
    W: torch.Tensor | None
    statuses: list[str]


@functools.cache
def _standard_form(n: int, m: int, solver: str):
    """``(A, b, cone)`` of the Fantope ``{tr X = m, 0 ⪯ X ⪯ I}`` in ``solver``'s svec order."""
    import scipy.sparse as sp

    rows, cols, _ = _layout(n, solver)
    t = rows.size
    on_diag = (rows == cols).astype(np.float64)
    blocks = [sp.csr_matrix(on_diag[None, :]), -sp.identity(t, format="csr")]
    b = [np.array([float(m)]), np.zeros(t)]
    if m > 1:
        blocks.append(sp.identity(t, format="csr"))
        b.append(on_diag)  # svec(I)
    A = sp.vstack(blocks, format="csc")
    psd = [n] if m == 1 else [n, n]
    if solver == "Clarabel":
        import clarabel

        cone = [clarabel.ZeroConeT(1)] + [clarabel.PSDTriangleConeT(k) for k in psd]
    else:
        cone = {"z": 1, "s": psd}
    return A, np.concatenate(b), cone


def solve_one(solver: str, P, q, A, b, cone, settings: dict):
    """One conic program ``min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ cone`` (``cone`` in the
    solver's own form): ``(x, z, status)`` with ``z`` the dual, ``Px + q + Aᵀz = 0``."""
    if solver == "Clarabel":
        import clarabel

        options = clarabel.DefaultSettings()
        options.verbose = False
        for key, value in settings.items():
            setattr(options, key, value)
        result = clarabel.DefaultSolver(P, q, A, b, cone, options).solve()
        return np.asarray(result.x), np.asarray(result.z), str(result.status)
    import scs

    result = scs.solve({"P": P, "A": A, "b": b, "c": q}, cone, **{"verbose": False, **settings})
    return result["x"], result["y"], result["info"]["status"]


def split_solver_args(solver_args: dict) -> tuple[str, dict]:
    """``(solver, settings)`` from ``solver_args``: ``solve_method`` (``"Clarabel"``, the
    default, or ``"SCS"``) and the rest, the solver's own settings; ValueError naming what
    is not known (Clarabel's settings are checked by name, SCS's by SCS)."""
    settings = dict(solver_args)
    solver = settings.pop("solve_method", "Clarabel")
    if solver not in SOLVERS:
        raise ValueError(f"solver_args['solve_method'] must be one of {SOLVERS}, got {solver!r}")
    if solver == "Clarabel":
        import clarabel

        known = set(dir(clarabel.DefaultSettings()))
        unknown = sorted(k for k in settings if k not in known)
        if unknown:
            raise ValueError(f"solver_args has settings Clarabel does not know: {unknown}")
    return solver, settings


def map_batch(one, B: int) -> list:
    """``[one(k) for k in range(B)]``, on a thread pool as diffcp runs its solves (the solvers
    release the GIL)."""
    workers = min(B, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPool(workers) as pool:
            return pool.map(one, range(B))
    return [one(k) for k in range(B)]


def solve_fantope(
    S: torch.Tensor, m: int, alpha: torch.Tensor | None, solver_args: dict
) -> FantopeSolve:
    """Solve ``F^α_m(S)`` for each ``S (B, n, n)`` (float64, CPU), ``1 ≤ m < n``, with
    ``alpha (B,)`` (one per matrix) or ``None`` for the exact problem.

    ``solver_args``: ``solve_method`` (``"Clarabel"``, default, or ``"SCS"``) and the
    solver's own settings. The batch's solves run on a thread pool, as diffcp runs them.
    """
    solver, settings = split_solver_args(solver_args)
    import scipy.sparse as sp

    B, n, _ = S.shape
    A, b, cone = _standard_form(n, m, solver)
    t = n * (n + 1) // 2
    qs = svec(S.detach(), solver).numpy()
    alphas = np.zeros(B) if alpha is None else alpha.detach().numpy()

    def one(k):
        P = sp.identity(t, format="csc") * alphas[k]
        return solve_one(solver, P, qs[k], A, b, cone, settings)

    results = map_batch(one, B)
    x = torch.from_numpy(np.stack([r[0] for r in results]))
    y = torch.from_numpy(np.stack([r[1] for r in results]))
    X = smat(x, n, solver)
    Z = smat(y[:, 1 : 1 + t], n, solver)
    W = smat(y[:, 1 + t :], n, solver) if m > 1 else None
    return FantopeSolve(X, -y[:, 0], Z, W, [r[2] for r in results])


@functools.cache
def _svec_basis(n: int) -> torch.Tensor:
    """``smat`` of the unit vectors: ``(t, n, n)``, an orthonormal basis of symmetric matrices."""
    t = n * (n + 1) // 2
    return smat(torch.eye(t, dtype=torch.float64), n)


def _lyapunov(Y: torch.Tensor) -> torch.Tensor:
    """Matrix ``(B, t, t)`` of ``svec(D) ↦ svec(YD + DY)`` in the canonical svec order."""
    # Entry (k, l) is <E_k, Y E_l + E_l Y> = 2 <E_k, Y E_l> for the orthonormal basis E of
    # symmetric matrices; Y E_l for all l is one (n × n)·(n × tn) product.
    B, n, _ = Y.shape
    E = _svec_basis(n)
    t = E.shape[0]
    YE = (Y @ E.permute(1, 0, 2).reshape(n, t * n)).reshape(B, n, t, n).transpose(1, 2)
    return 2 * E.reshape(t, n * n) @ YE.reshape(B, t, n * n).mT


class LinearRows(NamedTuple):
    """Linear constraints of a KKT system, per matrix: ``rows (B, p, t)`` (canonical ``svec`` of
    the constraint matrices ``A_i``) and the linearized primal rows ``ρ_i ⟨A_i, dX⟩ + σ_i dν_i``:
    ``ρ = 1, σ = 0`` for an equality ``⟨A_i, X⟩ = c_i``; for an inequality ``⟨A_i, X⟩ ≤ c_i``
    with multiplier ``ν_i ≤ 0`` and slack ``s_i``, ``ρ = −ν_i, σ = s_i`` (the linearized
    ``ν_i s_i = 0``)."""

    rows: torch.Tensor
    rho: torch.Tensor
    sigma: torch.Tensor


def kkt_matrix(
    X: torch.Tensor,
    Z: torch.Tensor,
    W: torch.Tensor | None,
    alpha: torch.Tensor,
    constraints: LinearRows | None = None,
) -> torch.Tensor:
    """The linearized KKT system's matrix ``K (B, N, N)`` (module docstring) at ``X, Z, W
    (B, n, n)`` (``W = None`` for ``m = 1``), ``alpha (B,)``; unknowns ``(svec dX, svec dZ[,
    svec dW], dν)``, ``N = 2t + p`` or ``3t + p``, ``t = n(n+1)/2``.

    ``constraints`` (default: the one equality ``tr X = m``, ``p = 1``) generalizes the
    ``dν I`` column and the ``tr dX`` row to ``p`` linear constraints: stationarity
    ``α dX − dZ [+ dW] − Σ_i dν_i A_i``, primal rows ``ρ_i⟨A_i, dX⟩ + σ_i dν_i``."""
    B, n, _ = X.shape
    t = n * (n + 1) // 2
    blocks = 2 if W is None else 3
    if constraints is None:
        e = svec(torch.eye(n, dtype=X.dtype))  # svec(I)
        ones = X.new_ones(B, 1)
        constraints = LinearRows(e.expand(B, 1, t), ones, torch.zeros_like(ones))
    p = constraints.rows.shape[1]
    # Few, large tensor ops: at these sizes each op's overhead, not its arithmetic, is the cost.
    Ys = [Z, X] if W is None else [Z, X, W, torch.eye(n, dtype=X.dtype) - X]
    L = _lyapunov(torch.cat(Ys)).reshape(len(Ys), B, t, t)
    K = X.new_zeros(B, blocks * t + p, blocks * t + p)
    diagonal = torch.arange(t)
    K[:, diagonal, diagonal] = alpha[:, None]  # α dX
    K[:, diagonal, t + diagonal] = -1.0  # −dZ
    K[:, :t, blocks * t:] = -constraints.rows.mT  # −Σ dν_i A_i
    K[:, blocks * t:, :t] = constraints.rho.unsqueeze(-1) * constraints.rows  # ρ_i⟨A_i, dX⟩
    K[:, blocks * t + torch.arange(p), blocks * t + torch.arange(p)] = constraints.sigma
    K[:, t : 2 * t, :t] = L[0]  # L_Z dX
    K[:, t : 2 * t, t : 2 * t] = L[1]  # L_X dZ
    if W is not None:
        K[:, diagonal, 2 * t + diagonal] = 1.0  # +dW
        K[:, 2 * t : 3 * t, :t] = -L[2]  # −L_W dX
        K[:, 2 * t : 3 * t, 2 * t : 3 * t] = L[3]  # L_{I−X} dW
    return K


class FantopeKKTDerivative(torch.autograd.Function):
    """``X*(S)`` at a solved point ``(X, Z, W)``: forward returns ``X``; backward is the adjoint
    of the implicit derivative of the KKT system (module docstring), a symmetric ``∂L/∂S``.

    ``apply(S, X, Z, W, alpha)`` with ``S, X, Z (B, n, n)`` float64, ``W`` ``None`` for
    ``m = 1``, ``alpha (B,)`` (zeros for the exact problem). The derivative scales like
    ``1/gap``; at an exact tie across the selection (no strict complementarity, no
    derivative) ``K`` is singular up to the solver's accuracy and the gradient comes back
    huge (~1e12 for a tie at Clarabel's 1e-12 tolerances), not an error.
    """

    @staticmethod
    def forward(ctx, S, X, Z, W, alpha):
        ctx.save_for_backward(X, Z, W, alpha)
        return X.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_X):
        X, Z, W, alpha = ctx.saved_tensors
        B, n, _ = X.shape
        t = n * (n + 1) // 2
        K = kkt_matrix(X, Z, W, alpha)
        rhs = X.new_zeros(B, K.shape[-1])
        rhs[:, :t] = svec(grad_X)
        # For exact m > 1 the dual is not unique (ν anywhere in [λ_{m−1}, λ_m], Z and W shifted
        # to match), so K is singular up to the solver's tolerance. The system stays consistent:
        # the null direction moves no dX and its left partner no stationarity row, so what LU
        # puts along it does not reach the returned block (tests/test_sdp_derivative.py).
        adjoint = torch.linalg.solve(K.mT, rhs)
        return smat(-adjoint[:, :t], n), None, None, None, None
