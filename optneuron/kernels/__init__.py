"""Compiled batch k-th eigenpair kernels (numpy + numba only)."""

from .dense import dense_eigenpairs
from .tridiagonal import tridiagonal_eigenpairs

__all__ = ["dense_eigenpairs", "tridiagonal_eigenpairs"]
