"""The trust-region minimizer ``x(A, b)`` as a differentiable function (implicit KKT derivative).

``x`` minimizes ``xᵀAx + 2bᵀx`` on ``‖x‖ = 1`` (``ball``: ``≤ 1``); the eigen backend finds it
(``eigen_trust_region``) and this Function differentiates it (theory/solution-derivatives.md,
section 5). With the multiplier ``μ = xᵀAx + bᵀx`` and ``M = A − μI``:

* **boundary** (the sphere, or the ball with ``μ < 0``), away from the hard case
  (``t = λ_min − μ > 0``, so ``M ≻ 0``): differentiating ``M x = −b``, ``xᵀx = 1`` gives
  ``dx = −M⁻¹(dA x + db) + dμ M⁻¹x`` with ``dμ = xᵀM⁻¹(dA x + db) / xᵀM⁻¹x``;
* **ball interior** (``‖x‖ < 1``, then ``μ = 0`` and ``A ≻ 0``): ``x = −A⁻¹b``,
  ``dx = −A⁻¹(dA x + db)``.

Backward is the adjoint: for ``g = ∂L/∂x``, ``w = M⁻¹(g − c x)`` with ``c = xᵀM⁻¹g / xᵀM⁻¹x``
(``c = 0`` inside the ball), so ``xᵀw = 0``, and ``∂L/∂b = −w``, ``∂L/∂A = −sym(w xᵀ)``
(tridiagonal: ``∂L/∂d_i = −w_i x_i``, ``∂L/∂e_i = −(w_i x_{i+1} + w_{i+1} x_i)``). The solves
are one Cholesky factorization per dense matrix and O(n) per tridiagonal one.

Not differentiable (backward raises ``ValueError`` naming the reason): the hard case and
``b = 0`` on the sphere (``t ≤ 16·n·ε·s``, ``s = max(‖A‖_F, ‖b‖)``, the tolerance of the
secular solve: ``x`` jumps between two minimizers as ``b`` crosses ``A``'s bottom eigenspace),
and the ball's kink where the minimizer leaves the interior (``‖x‖ = 1`` with ``μ = 0``).
"""

from __future__ import annotations

import torch

__all__ = ["TrustRegionSolution", "TridiagonalTrustRegionSolution", "tridiagonal_solve"]


def tridiagonal_solve(d: torch.Tensor, e: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """``T⁻¹R`` for positive definite tridiagonal ``T`` (``d (B, n)``, ``e (B, n-1)``) and
    ``R (B, n, k)``: ``LDLᵀ`` without pivoting (backward stable for ``T ≻ 0``), O(n·k)."""
    n = d.shape[-1]
    D, ell, y = [d[:, 0]], [None], [R[:, 0]]
    for i in range(1, n):
        li = e[:, i - 1] / D[i - 1]
        ell.append(li)
        D.append(d[:, i] - li * e[:, i - 1])
        y.append(R[:, i] - li[:, None] * y[i - 1])
    x = [None] * n
    x[n - 1] = y[n - 1] / D[n - 1][:, None]
    for i in range(n - 2, -1, -1):
        x[i] = y[i] / D[i][:, None] - ell[i + 1][:, None] * x[i + 1]
    return torch.stack(x, dim=1)


def _raise(reason: str) -> None:
    raise ValueError(
        f"Solution.x of TrustRegion is not differentiable here: {reason}; detach the solution "
        "(its value's gradient, Danskin's, exists everywhere)"
    )


def _classify(x, b, mu, lam0, scale, ball: bool):
    """``interior (B,)`` bool, after refusing rows where ``x(A, b)`` has no derivative."""
    n = x.shape[-1]
    eps = torch.finfo(x.dtype).eps
    tol = 16 * n * eps * scale
    interior = (x * x).sum(-1) < 1 - 16 * n * eps if ball else torch.zeros_like(mu, dtype=bool)
    boundary = ~interior
    if bool((boundary & (lam0 - mu <= tol)).any()):
        _raise("the hard case (b orthogonal to A's bottom eigenspace, b = 0 included): the "
               "multiplier μ equals λ_min(A) and x jumps between two minimizers")
    if ball and bool((boundary & (mu >= -tol)).any()):
        _raise("the minimizer is on the ball's boundary with a zero multiplier (‖A⁻¹b‖ = 1), "
               "where the interior and boundary solutions meet at a kink")
    return interior


def _adjoint(solve, x, mu, interior, g):
    """``w = M⁻¹(g − c x)`` (module docstring) given ``solve(R) = M⁻¹R`` for ``R (B, n, 2)``."""
    vu = solve(torch.stack([g, x], dim=-1))
    v, u = vu[..., 0], vu[..., 1]
    c = (v * x).sum(-1) / (u * x).sum(-1)
    c = torch.where(interior, torch.zeros_like(c), c)
    return v - c[:, None] * u


def _scale(A_norm, b):
    return torch.maximum(A_norm, b.norm(dim=-1)).clamp_min(torch.finfo(b.dtype).tiny)


class TrustRegionSolution(torch.autograd.Function):
    """``x(A, b)`` for flat dense ``A (B, n, n)``, ``b (B, n)``: forward returns the given
    minimizer ``x`` (from the eigen backend); ``lam0 (B,)`` is ``λ_min(A)``."""

    @staticmethod
    def forward(ctx, A, b, x, lam0, ball):
        ctx.ball = ball
        ctx.save_for_backward(A, b, x, lam0)
        return x.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        A, b, x, lam0 = ctx.saved_tensors
        mu = ((A @ x.unsqueeze(-1)).squeeze(-1) * x).sum(-1) + (b * x).sum(-1)
        interior = _classify(x, b, mu, lam0, _scale(torch.linalg.matrix_norm(A), b), ctx.ball)
        shift = torch.where(interior, torch.zeros_like(mu), mu)
        M = A.clone()
        M.diagonal(dim1=-2, dim2=-1).sub_(shift.unsqueeze(-1))
        factor, info = torch.linalg.cholesky_ex(M)
        if bool((info != 0).any()):
            _raise("A − μI is not numerically positive definite (the hard case)")
        w = _adjoint(lambda R: torch.cholesky_solve(R, factor), x, mu, interior, g)
        # −sym(w xᵀ) = −½ [w x] [x w]ᵀ: one batched product
        grad_A = torch.stack([w, x], -1) @ torch.stack([x, w], -2)
        return grad_A.mul_(-0.5), -w, None, None, None


class TridiagonalTrustRegionSolution(torch.autograd.Function):
    """As ``TrustRegionSolution`` for tridiagonal ``A`` given as ``(diag (B, n), off (B, n-1))``."""

    @staticmethod
    def forward(ctx, diag, off, b, x, lam0, ball):
        ctx.ball = ball
        ctx.save_for_backward(diag, off, b, x, lam0)
        return x.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        diag, off, b, x, lam0 = ctx.saved_tensors
        Ax = diag * x
        Ax[:, :-1] += off * x[:, 1:]
        Ax[:, 1:] += off * x[:, :-1]
        mu = (Ax * x).sum(-1) + (b * x).sum(-1)
        A_norm = ((diag * diag).sum(-1) + 2 * (off * off).sum(-1)).sqrt()
        interior = _classify(x, b, mu, lam0, _scale(A_norm, b), ctx.ball)
        shift = torch.where(interior, torch.zeros_like(mu), mu)
        w = _adjoint(lambda R: tridiagonal_solve(diag - shift[:, None], off, R), x, mu,
                     interior, g)
        grad_off = -(w[:, :-1] * x[:, 1:] + w[:, 1:] * x[:, :-1])
        return -w * x, grad_off, -w, None, None, None
