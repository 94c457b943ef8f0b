"""Eigenpairs of a flat batch, by the compiled kernels or LAPACK, and spectral weights.

Shared by every eigen-backend solve: ``eigenpairs`` returns the eigenvalues ``lo..hi-1``
(ascending), their unit eigenvectors, and, for a ``SymTridiagonal``, the per-eigenvalue
derivatives w.r.t. the diagonals; ``spectral_weights`` turns a spectral problem's
eigenvalues into its value and weights ``w`` (``∂value/∂μ_j``). ``tridiagonal_sum`` and
``dense_eigenpair`` are the exact value Functions' training-step path: the same numbers, as
tensors that are not torch views.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal, require_finite
from ..smoothing import fantope_envelope

__all__ = ["METHODS", "flatten", "unflatten", "eigenpairs", "spectral_weights", "tridiagonal_sum",
           "dense_eigenpair", "dense_eigenvector",
           "tridiagonal_derivatives", "kernel_ready", "fix_signs"]

METHODS = ("auto", "kernel", "lapack")

# Above these sizes LAPACK's blocked reduction wins over the compiled kernels (benchmarks/).
_KERNEL_MAX_DENSE_N = 64


def flatten(A):
    """``(B, n, n)`` dense or ``SymTridiagonal`` with one batch dimension."""
    if len(A.shape) == 3:
        return A  # already flat: a reshape would add a view node to the autograd graph
    n = A.shape[-1]
    if isinstance(A, SymTridiagonal):
        return A.reshape(-1)
    return A.reshape(-1, n, n)


def unflatten(value: torch.Tensor, batch: torch.Size) -> torch.Tensor:
    return value if value.shape == batch else value.reshape(batch)


def _choose(A, method: str) -> str:
    """``"kernel"`` or ``"lapack"`` for this batch: kernels on CPU for the sizes they win, once
    compiled. Until then LAPACK serves (same accuracy contract) while they compile in the
    background, unless torch was asked for deterministic algorithms: then the first call
    compiles them, saying so (``kernels.readiness``). ``method="kernel"`` on another device
    raises ``ValueError``."""
    tridiagonal = isinstance(A, SymTridiagonal)
    # the tensor's own flag and dtype, not a device object or a SymTridiagonal property: on a
    # training step's path Python calls are what to count (docs/design.md)
    tensor = A.diag if tridiagonal else A
    kind = "tridiagonal" if tridiagonal else "dense"
    if method == "auto":  # first: a training step's every call takes this branch
        if not tensor.is_cpu or (not tridiagonal and A.shape[-1] > _KERNEL_MAX_DENSE_N):
            return "lapack"
        return "kernel" if kernel_ready(kind, tensor.dtype) else "lapack"
    if method == "kernel":
        if not tensor.is_cpu:
            raise ValueError(f"method='kernel' needs CPU tensors, got device {A.device}")
        kernel_ready(kind, tensor.dtype, block=True)
    return method


_kernels_module = None


def _kernels():
    """``optneuron.kernels``, imported on first use: ``import optneuron`` does not load numba.
    Kept here after that, because an import statement in a function runs importlib's Python
    on every call, and a training step calls these functions every time."""
    global _kernels_module
    if _kernels_module is None:
        from .. import kernels

        _kernels_module = kernels
    return _kernels_module


def kernel_ready(kind: str, dtype: torch.dtype, block: bool = False) -> bool:
    """Whether the ``kind`` kernels (``kernels.readiness.KINDS``) can run now for ``dtype``;
    blocks (announced) when ``block`` or torch's deterministic mode asks for one path."""
    kernels = _kernels()
    np_dtype = "float32" if dtype == torch.float32 else "float64"
    if kernels.is_ready(kind, np_dtype):  # the steady state, in one call
        return True
    block = block or torch.are_deterministic_algorithms_enabled()
    return kernels.ensure_ready(kind, np_dtype, block=block)


def fix_signs(Q: torch.Tensor) -> torch.Tensor:
    """Eigenvectors ``Q (B, n, r)`` (columns) with the kernels' sign rule: the largest-magnitude
    component of each is positive, the first one on exact ties (``argmax`` returns the first)."""
    top = Q.abs().argmax(dim=-2, keepdim=True)
    sign = torch.where(Q.gather(-2, top) < 0, -1.0, 1.0).to(Q.dtype)
    return Q * sign


def _lapack_eigenpairs(dense: torch.Tensor, lo: int, hi: int, vectors: bool):
    if vectors:
        values, Q = torch.linalg.eigh(dense)
        return values[:, lo:hi], fix_signs(Q[:, :, lo:hi])
    return torch.linalg.eigvalsh(dense)[:, lo:hi], None


def tridiagonal_derivatives(Q: torch.Tensor):
    """``∂λ_j/∂d_i = q_ij²`` ``(B, n, r)`` and ``∂λ_j/∂e_i = 2 q_ij q_{i+1,j}`` ``(B, n-1, r)``
    from unit eigenvectors ``Q (B, n, r)`` of tridiagonal matrices."""
    return Q * Q, 2 * Q[:, :-1] * Q[:, 1:]


def _kernel_arrays(A, lo: int, hi: int, vectors: bool, derivatives: bool):
    """The compiled kernels' numpy outputs ``(values, Q or None, derivatives or None)``; rows
    they flag (clusters, no convergence) are re-solved by LAPACK in place. For a
    ``SymTridiagonal`` the derivatives do not need ``vectors`` (the kernels then skip storing
    the vectors). ``A`` is on the CPU (``_choose`` said ``"kernel"``)."""
    if isinstance(A, SymTridiagonal):
        return _tridiagonal_arrays(A, lo, hi, vectors, derivatives)
    kernels = _kernels()
    # n <= 5: Jacobi over lanes of matrices (kernels/tiny.py), no tridiagonal reduction; from
    # n = 6 the reduction is faster (python -m benchmarks.tiny_cutoff)
    tiny = A.shape[-1] <= kernels.JACOBI_MAX_N and kernel_ready("tiny", A.dtype)
    # A was validated (a float tensor, (B, n, n)) and lo, hi come from a problem's eigen_range:
    # the checked kernels skip the public functions' argument checks
    values, Q, suspect = (
        kernels.checked_tiny_eigenpairs if tiny else kernels.checked_dense_eigenpairs
    )(A.detach().contiguous().numpy(), lo, hi, vectors, torch.get_num_threads())
    if suspect is not None:  # some row flagged (no numpy reduction: docs/design.md, "Training")
        _relapack_flagged(A, suspect, lo, hi, values, Q)
    return values, Q, None


def _tridiagonal_arrays(T: SymTridiagonal, lo: int, hi: int, vectors: bool, derivatives: bool):
    """``_kernel_arrays`` for a ``SymTridiagonal`` (``tridiagonal_sum`` calls it directly)."""
    # a SymTridiagonal's tensors were checked when it was built, and lo, hi come from a
    # problem's eigen_range: the kernels' own argument checks would repeat them
    values, Q, suspect, *derivs = _kernels().checked_tridiagonal_eigenpairs(
        T.diag.detach().contiguous().numpy(), T.off.detach().contiguous().numpy(), lo, hi,
        vectors, derivatives, torch.get_num_threads(),
    )
    if suspect is not None:  # some row flagged (no numpy reduction: docs/design.md, "Training")
        fixed_Q = _relapack_flagged(T, suspect, lo, hi, values, Q, vectors=derivatives)
        if derivatives:
            for full, fixed in zip(derivs, tridiagonal_derivatives(fixed_Q)):
                full[suspect] = fixed.numpy()
    return values, Q, (derivs if derivatives else None)


def _relapack_flagged(A, suspect, lo: int, hi: int, values, Q, vectors: bool = False):
    """Rows the kernels flag (``suspect``) re-solved by LAPACK, in place in the kernels' numpy
    ``values (B, r)`` and ``Q (B, n, r)`` (or None); returns the re-solved vectors (None unless
    ``Q`` or ``vectors``). Non-finite input is among the rows the kernels flag, so the
    finiteness check that names it runs here: it costs nothing unless some row was flagged."""
    require_finite(A)
    dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
    fixed_values, fixed_Q = _lapack_eigenpairs(dense.detach()[torch.from_numpy(suspect)], lo, hi,
                                               vectors or Q is not None)
    values[suspect] = fixed_values.numpy()
    if Q is not None:
        Q[suspect] = fixed_Q.numpy()
    return fixed_Q


def _kernel_eigenpairs(A, lo: int, hi: int, vectors: bool, derivatives: bool):
    """``_kernel_arrays`` as tensors (sharing the arrays' memory)."""
    values, Q, derivs = _kernel_arrays(A, lo, hi, vectors, derivatives)
    derivs = tuple(map(torch.from_numpy, derivs)) if derivs is not None else None
    return torch.from_numpy(values), (torch.from_numpy(Q) if vectors else None), derivs


def eigenpairs(A, lo: int, hi: int, vectors: bool, method: str, derivatives: bool = False):
    """Eigenvalues ``lo..hi-1`` of a flat batch, their vectors ``(B, n, hi-lo)`` (or None) and,
    for a ``SymTridiagonal`` with ``derivatives``, ``tridiagonal_derivatives`` (else None).
    The derivatives need no ``vectors``: they are computed from the vectors either way."""
    if A.shape[0] == 0:
        n = A.shape[-1]
        values = torch.zeros((0, hi - lo), dtype=A.dtype, device=A.device)
        Q = torch.zeros((0, n, hi - lo), dtype=A.dtype, device=A.device)
    elif _choose(A, method) == "kernel":
        return _kernel_eigenpairs(A, lo, hi, vectors, derivatives)
    else:
        require_finite(A)
        dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
        values, Q = _lapack_eigenpairs(dense.detach(), lo, hi, vectors or derivatives)
    return values, (Q if vectors else None), (tridiagonal_derivatives(Q) if derivatives else None)


def tridiagonal_sum(T: SymTridiagonal, lo: int, hi: int, method: str):
    """``(Σ_j λ_j, Σ_j ∂λ_j/∂d, Σ_j ∂λ_j/∂e)`` over ``j = lo..hi-1`` for a flat tridiagonal
    batch: shapes ``(B,)``, ``(B, n)``, ``(B, n-1)`` — the value and gradient of an exact
    ``SphereQP``/``KyFan`` (``∂λ_j/∂d_i = q_ij²``, ``∂λ_j/∂e_i = 2 q_ij q_{i+1,j}``).

    A training step's hot path: none of the tensors returned is a torch view (for one
    eigenvalue they are reshaped as numpy arrays), because a view returned from or saved by an
    autograd Function costs autograd's view bookkeeping on every step.
    """
    if T.diag.shape[0] > 0 and _choose(T, method) == "kernel":
        values, _, (dd, de) = _tridiagonal_arrays(T, lo, hi, False, True)
        if hi - lo == 1:
            B, n = dd.shape[:2]
            return tuple(map(torch.from_numpy, (values.reshape(B), dd.reshape(B, n),
                                                de.reshape(B, n - 1))))
        values, dd, de = map(torch.from_numpy, (values, dd, de))
    else:
        values, _, (dd, de) = eigenpairs(T, lo, hi, False, method, derivatives=True)
    return values.sum(-1), dd.sum(-1), de.sum(-1)


def dense_eigenpair(A: torch.Tensor, k: int, method: str, reduction: bool = False):
    """``(λ_k (B,), q_k (B, n), reflectors)`` of a flat dense batch, neither tensor a torch view
    (as in ``tridiagonal_sum``): the value and the vector of ``∂λ_k/∂A = q_k q_kᵀ``.

    ``reflectors`` is None unless ``reduction`` asks for the Householder reduction
    ``A = H T Hᵀ`` that found ``q_k`` and the kernels can give it (``dense_eigenvector``: the
    kernels' path, n above the tiny kernel's, the eigenvector kernels compiled): what the
    eigenvector's backward solve needs, so that reading ``Solution.x`` after ``value`` does not
    reduce ``A`` a second time. The numbers agree to rounding either way (usually to the bit:
    ``kernels.dense_eigenvector``)."""
    if A.shape[0] > 0 and _choose(A, method) == "kernel":
        if (reduction and A.shape[-1] > _kernels().JACOBI_MAX_N
                and kernel_ready("eigenvector_adjoint", A.dtype)):
            return dense_eigenvector(A, k)
        values, Q, _ = _kernel_arrays(A, k, k + 1, True, False)
        B, n = Q.shape[:2]
        return torch.from_numpy(values.reshape(B)), torch.from_numpy(Q.reshape(B, n)), None
    values, Q, _ = eigenpairs(A, k, k + 1, True, method)
    return values[:, 0].clone(), Q[..., 0].clone(), None


def dense_eigenvector(A: torch.Tensor, k: int):
    """``(λ_k (B,), q_k (B, n), reflectors)`` by ``kernels.dense_eigenvector``; rows it flags get
    ``(λ_k, q_k)`` from LAPACK (their reflectors stay valid: the reduction does not depend on
    the eigen-solve), after the finiteness check that names bad input."""
    values, vecs, suspect, reflectors = _kernels().checked_dense_eigenvector(
        A.detach().contiguous().numpy(), k, torch.get_num_threads())
    if suspect is not None:
        _relapack_flagged(A, suspect, k, k + 1, values, vecs)
    B, n = vecs.shape[:2]
    return torch.from_numpy(values.reshape(B)), torch.from_numpy(vecs.reshape(B, n)), reflectors


def spectral_weights(problem, values: torch.Tensor, n: int):
    """``(value, w)`` of the problem from its eigenvalues in ``problem.eigen_range(n)``;
    ``w=None`` stands for unit weights (exact problems)."""
    if problem.smoothing is None:
        # one eigenvalue: a view, not a reduction (a training step's every op counts)
        return (values[:, 0] if values.shape[-1] == 1 else values.sum(-1)), None
    value = values.new_zeros(values.shape[:-1])
    w = torch.zeros_like(values)
    for term in problem.fantope_terms(n):
        v, wt = fantope_envelope(values, term.count, term.largest, problem.smoothing)
        value = value + term.coef * v
        w = w + term.coef * wt
    return value, w


