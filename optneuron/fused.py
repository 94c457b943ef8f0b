"""The estimators' default network as one autograd Function: dense eigenvalue neurons, a linear
readout and a linear skip, forward and backward in a handful of compiled calls.

    f(z) = W λ(z) + c + V z,     λ_h(z) = λ_k(diag(μ^h) + Σ_i z_i A_i^h)

with the ``DensePencil`` parametrization (``μ^h`` a cumulative sum of softplus gaps of
``bias[h]``; ``A_i^h`` packed isometric lower-triangle coordinates ``weight[h, i]``). The
general path builds this from ~20 torch operations (pencil, offset, unpacking, the eigen
backend, two linears, an add), each a node that autograd records and walks back; at batch 64
with 8 neurons of 4×4 that bookkeeping cost several times the arithmetic
(``benchmarks/real_machine.py``'s estimator epoch), and so did the ~30 numpy calls that
replaced it at first: the forward's glue around the eigen kernel cost 106–130 µs per step.
Here each stage is one compiled loop nest (``kernels.tiny``'s ``softplus_offset``,
``readout_coordinates``, ``readout_output``, ``readout_gradients``), and that glue costs
60–61 µs (``python -m benchmarks.estimator_step``, before and after, two runs each, 2026-12-03):

* forward: the offset ``μ`` and coordinates ``C = offset + z · weight``;
  ``kernels.pencil_eigenvalue`` solves each matrix straight from ``C`` (Jacobi over lanes,
  n ≤ 8) and returns ``λ_k`` with
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
from .backends.torch_threads import follow_machine_load
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


def _solve(plan: FusedPlan, C: np.ndarray):
    """``λ_k`` and ``∂λ_k/∂C`` of the matrices with coordinates ``C (rows, size)``."""
    from .kernels.tiny import pencil_eigenvalue_unchecked

    vals, grads, suspect = pencil_eigenvalue_unchecked(C, plan.index, plan.scale, plan.n, plan.k,
                                                       follow_machine_load())
    if suspect is not None:  # rows flagged (λ_k nearly repeated, no convergence): LAPACK re-solves
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
    """``f(z)`` as a numpy array from numpy arguments (C-contiguous float64), and what
    ``_backward`` needs."""
    from .kernels.tiny import readout_coordinates, readout_output, softplus_offset

    m, d, size = weight.shape
    B = z.shape[0]
    mu, slope = np.empty((m, plan.n)), np.empty((m, plan.n))
    softplus_offset(bias, mu, slope)
    C = np.empty((B * m, size))
    readout_coordinates(z, mu, weight, C)
    vals, grads = _solve(plan, C)
    out = np.empty((B, out_weight.shape[0]))
    readout_output(vals, z, out_weight, out_bias, skip_weight, out)
    return out, (z, vals, grads, out_weight, skip_weight, weight, slope)


def _backward(saved, g, flat, input_grad: bool):
    """The parameters' gradients of ``Σ g · f(z)`` written into ``flat`` (numpy, their packed
    order); returns the input's gradient when ``input_grad``, else ``None``."""
    from .kernels.tiny import readout_gradients

    z, vals, grads, out_weight, skip_weight, weight, slope = saved
    g = np.ascontiguousarray(g, dtype=np.float64)
    g_z = g @ skip_weight if input_grad else np.empty((0, z.shape[1]))
    readout_gradients(g, z, vals, grads, out_weight, slope, weight, flat, g_z)
    return g_z if input_grad else None


def _arrays(*tensors):
    return [np.ascontiguousarray(t.detach().numpy()) for t in tensors]


class _FusedReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, bias, weight, out_weight, out_bias, skip_weight, plan):
        params = (bias, weight, out_weight, out_bias, skip_weight)
        out, ctx.saved = _forward(plan, *_arrays(z, *params))
        ctx.shapes = [p.shape for p in params]
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        sizes = [shape.numel() for shape in ctx.shapes]
        flat = torch.empty(sum(sizes), dtype=torch.float64)
        g_z = _backward(ctx.saved, grad_out.detach().numpy(), flat.numpy(),
                        ctx.needs_input_grad[0])
        grads = [part.view(shape) for part, shape in zip(flat.split(sizes), ctx.shapes)]
        return (None if g_z is None else torch.from_numpy(g_z), *grads, None)


def fused_gradients(plan, z, params, loss_gradient):
    """One training step's loss and gradients without autograd: ``params`` are the tensors
    ``(bias, weight, out_weight, out_bias, skip_weight)``; ``loss_gradient(out)`` returns the
    loss and its gradient ``∂loss/∂out`` (numpy). Sets each parameter's ``.grad`` (as
    ``backward`` would after ``zero_grad(set_to_none=True)``, except that the tensors are
    consecutive views of one flat tensor that the next call with this ``plan`` overwrites:
    ``packing.PackedGradients``) and returns the loss."""
    out, saved = _forward(plan, *_arrays(z, *params))
    loss, g = loss_gradient(out)
    # one flat tensor under the gradients, as under packed parameters (packing.py)
    _backward(saved, g, plan.gradients.buffer(params), False)
    plan.gradients.attach(params)
    return loss
