"""The estimators' default network as one autograd Function: dense eigenvalue neurons, a linear
readout and a linear skip, forward and backward in a handful of numpy calls.

    f(z) = W λ(z) + c + V z,     λ_h(z) = λ_k(diag(μ^h) + Σ_i z_i A_i^h)

with the ``DensePencil`` parametrization (``μ^h`` a cumulative sum of softplus gaps of
``bias[h]``; ``A_i^h`` packed isometric lower-triangle coordinates ``weight[h, i]``). The
general path builds this from ~20 torch operations (pencil, offset, unpacking, the eigen
backend, two linears, an add), each a node that autograd records and walks back; at batch 64
with 8 neurons of 4×4 that bookkeeping cost several times the arithmetic
(``benchmarks/real_machine.py``'s estimator epoch). Here:

* forward: coordinates ``C = offset + z · weight`` (one matmul); ``kernels.pencil_eigenvalue``
  solves each matrix straight from ``C`` (Jacobi over lanes, n ≤ 8) and returns ``λ_k`` with
  ``∂λ_k/∂C`` (``q qᵀ`` in coordinates); matrices the kernel flags (a repeated ``λ_k``) are
  re-solved by LAPACK, as in the eigen backend; then the readout.
* backward: ``∂f/∂W = gᵀλ``, ``∂f/∂c = Σ g``, ``∂f/∂V = gᵀz``; ``g_λ = g W``,
  ``g_C = g_λ ∂λ/∂C``, ``∂/∂weight = zᵀ g_C``, and ``∂/∂bias`` through the cumulative
  softplus: ``∂/∂bias_0 = Σ_j g_μj``, ``∂/∂bias_j = σ(bias_j) Σ_{i≥j} g_μi``.

The same function as the general path (the same formulas, so equal up to rounding); used only
where that holds (``fused_plan``): dense pencil without monotone features, exact eigenvalue
neurons (no smoothing, no mixture) on the eigen backend, no categorical matrices,
``dim ≤ kernels.TINY_MAX_N``, float64 CPU tensors, and the kernel compiled.
"""

from __future__ import annotations

import numpy as np
import torch

from .backends.eigen import EigenBackend
from .backends.eigenpairs import kernel_ready
from .backends.torch_threads import caller_threads
from .matrices import require_finite
from .packing import PackedGradients
from .pencils import DensePencil
from .problems import SphereQP

__all__ = ["FusedPlan", "fused_plan", "fused_readout", "fused_gradients", "usable"]


class FusedPlan:
    """What the fused Function needs besides the parameters: the pencil's coordinate layout
    (entry ``(i, j)`` reads coordinate ``index[i n + j]`` times ``scale``; ``size``: zero),
    the matrix size ``n`` and the eigenvalue index ``k ≥ 0``."""

    def __init__(self, pencil: DensePencil, k: int):
        pattern = pencil._pattern
        self.n, self.k, self.size = pencil.dim, k, pattern.size
        self.ready = False
        self.index = pattern.symmetric_index.numpy().astype(np.int64)
        self.scale = pattern.scale.numpy().astype(np.float64)
        # (n², size): sums the entries of each coordinate (LAPACK fix-ups of flagged rows)
        self.gather = np.zeros((self.n * self.n, self.size))
        inside = self.index < self.size
        self.gather[np.flatnonzero(inside), self.index[inside]] = self.scale[self.index[inside]]
        self.gradients = PackedGradients()  # fused_gradients' output tensors, reused


def fused_plan(spectral, categories) -> FusedPlan | None:
    """A ``FusedPlan`` when ``spectral`` (a ``SpectralLayer``) with these ``categories`` is one
    the fused Function computes exactly (module docstring), else ``None``."""
    from .kernels import TINY_MAX_N

    pencil = getattr(spectral, "pencil", None)
    solver = getattr(spectral, "solver", None)
    if categories is not None or type(pencil) is not DensePencil or pencil.monotone:
        return None
    problem = getattr(solver, "problem", None)
    backend = getattr(solver, "backend", None)
    if type(problem) is not SphereQP or problem.smoothing is not None:
        return None
    if not isinstance(backend, EigenBackend) or backend.method == "lapack":
        return None
    if pencil.dim > TINY_MAX_N or pencil.out_features is None:
        return None
    return FusedPlan(pencil, problem.index % pencil.dim)


def usable(plan: FusedPlan | None, z: torch.Tensor) -> bool:
    """Whether this call can take the fused path: a plan, float64 CPU input, kernel compiled
    (else the general path serves while it compiles in the background)."""
    if plan is None or z.dtype != torch.float64 or z.device.type != "cpu":
        return False
    if not plan.ready:  # once loaded a kernel stays loaded: ask until then only
        plan.ready = kernel_ready("tiny_pencil", torch.float64)
    return plan.ready


def fused_readout(plan, z, bias, weight, out_weight, out_bias, skip_weight) -> torch.Tensor:
    """``f(z) (B, n_outputs)`` of the module docstring, differentiable in every argument."""
    return _FusedReadout.apply(z, bias, weight, out_weight, out_bias, skip_weight, plan)


def _offset(bias: np.ndarray):
    """``μ (m, n)``: ``μ_0 = bias_0``, ``μ_j = bias_0 + Σ_{1≤i≤j} softplus(bias_i)``, and
    ``∂μ_j/∂bias_j`` for the backward pass (torch's softplus: ``x`` and slope 1 above 20)."""
    raw = bias[:, 1:]
    low = np.minimum(raw, 20.0)
    gaps = np.where(raw > 20.0, raw, np.log1p(np.exp(low)))
    mu = np.concatenate([bias[:, :1], bias[:, :1] + np.cumsum(gaps, axis=1)], axis=1)
    slope = np.ones_like(bias)
    slope[:, 1:] = np.where(raw > 20.0, 1.0, 1.0 / (1.0 + np.exp(-low)))
    return mu, slope


def _solve(plan: FusedPlan, C: np.ndarray):
    """``λ_k`` and ``∂λ_k/∂C`` of the matrices with coordinates ``C (rows, size)``."""
    from .kernels.tiny import pencil_eigenvalue_unchecked

    vals, grads, suspect = pencil_eigenvalue_unchecked(C, plan.index, plan.scale, plan.n, plan.k,
                                                       caller_threads())
    if suspect.any():  # a (nearly) repeated λ_k or no convergence: LAPACK, as the backend does
        rows = np.flatnonzero(suspect)
        padded = np.concatenate([C[rows], np.zeros((len(rows), 1))], axis=1)
        A = (padded * np.append(plan.scale, 0.0))[:, plan.index].reshape(-1, plan.n, plan.n)
        require_finite(torch.from_numpy(A))
        w, Q = np.linalg.eigh(A)
        q = Q[:, :, plan.k]
        vals[rows] = w[:, plan.k]
        grads[rows] = (q[:, :, None] * q[:, None, :]).reshape(len(rows), -1) @ plan.gather
    return vals, grads


def _forward(plan, z, bias, weight, out_weight, out_bias, skip_weight):
    """``f(z)`` as a numpy array from numpy arguments, and what ``_backward`` needs."""
    m, d, size = weight.shape
    B = z.shape[0]
    mu, slope = _offset(bias)
    # [z, 1] @ [weight; offset]: the coordinates C and, in backward, Σ_b g_C in one product
    z1 = np.empty((B, d + 1))
    z1[:, :d] = z
    z1[:, d] = 1.0
    wo = np.zeros((d + 1, m, size))
    wo[:d] = weight.transpose(1, 0, 2)
    wo[d, :, :plan.n] = mu
    wo = wo.reshape(d + 1, m * size)
    vals, grads = _solve(plan, (z1 @ wo).reshape(B * m, size))
    # [λ, 1, z]: the readout, its bias and the skip as one product (and one in backward)
    lz = np.empty((B, m + 1 + d))
    lz[:, :m] = vals.reshape(B, m)
    lz[:, m] = 1.0
    lz[:, m + 1:] = z
    coef = np.concatenate([out_weight, out_bias[:, None], skip_weight], axis=1)
    return lz @ coef.T, (plan, z1, wo, lz, grads.reshape(B, m, size), out_weight, coef, slope)


def _backward(saved, g, input_grad: bool):
    """Gradients ``(z or None, bias, weight, out_weight, out_bias, skip_weight)`` (numpy) of
    ``Σ g · f(z)``."""
    plan, z1, wo, lz, grads, ow, coef, slope = saved
    B, m, size = grads.shape
    d, n = z1.shape[1] - 1, plan.n
    gC = ((g @ ow)[:, :, None] * grads).reshape(B, m * size)
    G = (z1.T @ gC).reshape(d + 1, m, size)
    g_weight = np.ascontiguousarray(G[:d].transpose(1, 0, 2))
    g_bias = np.cumsum(G[d, :, n - 1::-1], axis=1)[:, ::-1] * slope  # Σ_{i≥j} g_μi
    H = g.T @ lz  # (outputs, m + 1 + d): readout weight, bias, skip weight
    g_z = g @ coef[:, m + 1:] + gC @ wo[:d].T if input_grad else None
    return (g_z, np.ascontiguousarray(g_bias), g_weight, np.ascontiguousarray(H[:, :m]),
            np.ascontiguousarray(H[:, m]), np.ascontiguousarray(H[:, m + 1:]))


def _arrays(*tensors):
    return [t.detach().numpy() for t in tensors]


class _FusedReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, bias, weight, out_weight, out_bias, skip_weight, plan):
        out, ctx.saved = _forward(plan, *_arrays(z, bias, weight, out_weight, out_bias,
                                                 skip_weight))
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        grads = _backward(ctx.saved, grad_out.detach().numpy(), ctx.needs_input_grad[0])
        return tuple(None if g is None else torch.from_numpy(g) for g in grads) + (None,)


def fused_gradients(plan, z, params, loss_gradient):
    """One training step's loss and gradients without autograd: ``params`` are the tensors
    ``(bias, weight, out_weight, out_bias, skip_weight)``; ``loss_gradient(out)`` returns the
    loss and its gradient ``∂loss/∂out`` (numpy). Sets each parameter's ``.grad`` (as
    ``backward`` would after ``zero_grad(set_to_none=True)``, except that the tensors are
    consecutive views of one flat tensor that the next call with this ``plan`` overwrites:
    ``packing.PackedGradients``) and returns the loss."""
    out, saved = _forward(plan, z.detach().numpy(), *_arrays(*params))
    loss, g = loss_gradient(out)
    # one flat tensor under the gradients, as under packed parameters (packing.py)
    plan.gradients.assign(params, _backward(saved, g, False)[1:])
    return loss
