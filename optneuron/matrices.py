"""How a batch of symmetric matrices is held: a dense tensor or ``SymTridiagonal``.

Dense input ``(..., n, n)`` is symmetrized as ``(A + Aᵀ)/2``, so no triangle is silently
ignored and gradients come back symmetric. All argument checks for matrices live here:
type, dtype (float32/float64), rank, squareness, empty size, finiteness.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["SymTridiagonal", "as_symmetric", "matrix_size", "require_finite", "serial_slices",
           "TORCH_GRAIN"]

_FLOATS = (torch.float32, torch.float64)

#: elements above which a torch CPU op runs on torch's OpenMP pool (``at::internal::GRAIN_SIZE``)
TORCH_GRAIN = 32768


def serial_slices(batch: int, per_item: int) -> list[slice]:
    """Slices covering ``range(batch)`` whose ops touch at most ``TORCH_GRAIN`` elements
    (``per_item`` per batch entry; at least one entry per slice), so that torch runs each on
    the calling thread.

    Why: an OpenMP region's workers spin after it ends, and on a busy machine its barrier waits
    for a descheduled thread; a layer's own large elementwise ops (the symmetry test, the
    gradient ``g q qᵀ``) then ran many times slower at torch's default two threads than at one
    (``python -m benchmarks.real_machine``). Sliced, they run serially beside the kernels' own
    non-spinning pool, with the same bits.
    """
    step = max(1, TORCH_GRAIN // max(per_item, 1))
    return [slice(i, min(i + step, batch)) for i in range(0, batch, step)]


def _as_float_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")
    if value.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {value.dtype}")
    return value


def _check_finite(name: str, value: torch.Tensor) -> None:
    # max |x| is nan or inf exactly when some entry is (amax propagates nan): one reduction,
    # where isfinite(x).all() allocates a mask and reduces it.
    if not value.numel():
        return
    if value.device.type == "cpu" and value.dtype in (torch.float32, torch.float64):
        # numpy, on the calling thread: torch's parallel reduction would leave its OpenMP
        # workers spin-waiting beside the eigen kernels that follow (eigen_mixture._numpy_ok)
        x = value.detach().numpy()
        finite = math.isfinite(float(np.max(np.abs(x))))
    else:
        finite = math.isfinite(value.detach().abs().amax().item())
    if not finite:
        raise ValueError(f"{name} has non-finite entries (nan or inf)")


class SymTridiagonal:
    """A batch of symmetric tridiagonal matrices ``T = diag(d) + diag(e, 1) + diag(e, -1)``.

    ``diag`` has shape ``(..., n)`` and ``off`` shape ``(..., n-1)`` with the same batch
    dimensions, dtype and device. Eigenvalues of ``T`` cost ``O(n)`` per Sturm count,
    and ``∂λ_k/∂d_i = q_i²``, ``∂λ_k/∂e_i = 2 q_i q_{i+1}``.
    """

    def __init__(self, diag, off):
        diag = _as_float_tensor("diag", diag)
        off = _as_float_tensor("off", off)
        if diag.ndim < 1:
            raise ValueError(f"diag must have shape (..., n), got a {diag.ndim}-d tensor")
        if diag.shape[-1] < 1:
            raise ValueError("diag has an empty last dimension: matrices must be at least 1x1")
        expected = (*diag.shape[:-1], diag.shape[-1] - 1)
        if off.shape != expected:
            raise ValueError(
                f"off must have shape {expected} for diag of shape {tuple(diag.shape)}, "
                f"got {tuple(off.shape)}"
            )
        # both on the CPU, told by two flags: comparing devices builds two device objects,
        # and a training step builds a SymTridiagonal every time (docs/design.md, "Training")
        if off.dtype != diag.dtype or not (off.is_cpu and diag.is_cpu
                                           or off.device == diag.device):
            raise TypeError(
                f"diag and off must share dtype and device, got {diag.dtype}/{diag.device} "
                f"and {off.dtype}/{off.device}"
            )
        self.diag = diag
        self.off = off

    @classmethod
    def trusted(cls, diag: torch.Tensor, off: torch.Tensor) -> SymTridiagonal:
        """The batch of ``(diag, off)`` without the argument checks, for tensors taken from a
        ``SymTridiagonal`` that was already checked (a backend's hot path; ``diag (..., n)``
        and ``off (..., n-1)`` float tensors of one dtype and device, not verified here)."""
        T = cls.__new__(cls)
        T.diag = diag
        T.off = off
        return T

    @property
    def shape(self) -> torch.Size:
        shape = self.diag.shape  # (..., n) + (n,): a Size, built without unpacking
        return shape + shape[-1:]

    @property
    def dtype(self) -> torch.dtype:
        return self.diag.dtype

    @property
    def device(self) -> torch.device:
        return self.diag.device

    @property
    def requires_grad(self) -> bool:
        return self.diag.requires_grad or self.off.requires_grad

    def to_dense(self) -> torch.Tensor:
        """The dense ``(..., n, n)`` tensor; differentiable in ``diag`` and ``off``."""
        return (
            torch.diag_embed(self.diag)
            + torch.diag_embed(self.off, offset=1)
            + torch.diag_embed(self.off, offset=-1)
        )

    def reshape(self, *batch) -> SymTridiagonal:
        """The same matrices with the batch dimensions reshaped to ``batch``."""
        n = self.diag.shape[-1]
        diag = self.diag.reshape(*batch, n)
        # shape the off-diagonal from diag's batch: with n = 1 it is empty, so a -1 in
        # ``batch`` could not be inferred from it
        return SymTridiagonal(diag, self.off.reshape(*diag.shape[:-1], n - 1))

    def __repr__(self) -> str:
        shape = tuple(self.shape)
        return f"SymTridiagonal(shape={shape}, dtype={self.dtype}, device={self.device})"


def require_finite(A: torch.Tensor | SymTridiagonal, name: str = "A") -> None:
    """Raise ``ValueError`` naming ``name`` (or ``name.diag``, ``name.off``) if ``A`` holds
    nan or inf."""
    if isinstance(A, SymTridiagonal):
        _check_finite(f"{name}.diag", A.diag)
        _check_finite(f"{name}.off", A.off)
    else:
        _check_finite(name, A)


def _is_symmetric(A: torch.Tensor) -> bool:
    """A == Aᵀ exactly. CPU tensors are compared in numpy, on the calling thread: torch's
    parallel comparison left its OpenMP workers spinning beside the eigen kernels that
    follow (eigen_mixture._numpy_ok), and it was the costliest torch op of a dense
    ``OptLayer(EigenvalueMixture())`` call (``python -m benchmarks.spectrum``)."""
    if A.device.type == "cpu" and A.dtype in (torch.float32, torch.float64):
        x = A.detach().numpy()
        return bool(np.array_equal(x, x.swapaxes(-1, -2)))
    return torch.equal(A, A.mT)


def as_symmetric(A, name: str = "A", check_finite: bool = True) -> torch.Tensor | SymTridiagonal:
    """Validate a batch of matrices; dense input comes back symmetrized, ``(A + Aᵀ)/2``.

    Computed as ``A/2 + Aᵀ/2``: every finite input stays finite (``A + Aᵀ`` overflows for
    entries above half the dtype's maximum), and symmetric input comes back unchanged.
    ``check_finite=False`` skips the nan/inf test (one reduction and a device sync per
    tensor) for callers that detect non-finite input themselves, as the eigen backend does.
    """
    if isinstance(A, SymTridiagonal):
        if check_finite:
            require_finite(A, name)
        return A
    A = _as_float_tensor(name, A)
    if A.ndim < 2:
        raise ValueError(f"{name} must have shape (..., n, n), got a {A.ndim}-d tensor")
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be square in its last two dimensions, got {tuple(A.shape)}")
    if A.shape[-1] == 0:
        raise ValueError(f"{name} has an empty matrix dimension: matrices must be at least 1x1")
    if check_finite:
        require_finite(A, name)
    if _is_symmetric(A):
        # Already symmetric (a pencil's output, most user input): (A + Aᵀ)/2 = A, and
        # skipping it keeps a full-size node out of the autograd graph. The gradient is
        # unchanged because every backend's gradient is symmetric.
        return A
    return A / 2 + A.mT / 2


def matrix_size(A: torch.Tensor | SymTridiagonal) -> int:
    """``n`` for a batch of ``n × n`` matrices."""
    return A.shape[-1]
