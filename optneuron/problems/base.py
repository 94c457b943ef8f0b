"""The ``Problem`` protocol: what every problem declares, and the data checks it shares.

A problem is a frozen declaration of *what* a layer computes from its data; a backend says
*how*. Every problem

* names its data (``data_names``: ``("A",)``, ``("A", "b")``, ``("A", "B")``) and validates
  it in one place (``validate``): types, dtypes, shapes, finiteness, and torch broadcasting of
  the batch dimensions, with ``ValueError``/``TypeError`` naming the argument;
* states its value / solution / gradient contract in its class docstring (``value`` with the
  batch shape, differentiable in every datum; ``Solution.X`` the lifted solution of its SDP
  form; ``Solution.x`` the minimizer where the backend produces it);
* states its SDP form (the tight relaxation the ``sdp`` backend solves) in the docstring too.

Backends look solves up by problem class (``backends.dispatch.SolverTable``), so a new
problem is one subclass here plus one ``@solves(NewProblem)`` function per backend
(docs/problems.md).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from ..matrices import SymTridiagonal, as_symmetric, require_finite
from ..validation import check_int

__all__ = ["Problem", "check_size", "broadcast_data"]


def check_size(n) -> int:
    """The matrix size ``n`` as an int, at least 1."""
    n = check_int("n", n)
    if n < 1:
        raise ValueError(f"matrix size n must be at least 1, got {n}")
    return n


class Problem(abc.ABC):
    """Base class of every problem (see the module docstring for the contract).

    Subclasses are frozen dataclasses; they set ``data_names`` and implement ``check_size``
    (the problem's parameters against the matrix size ``n``). ``validate`` checks the data;
    a subclass with data beyond ``A`` extends ``validate_extra``.
    """

    data_names: ClassVar[tuple[str, ...]] = ("A",)

    @abc.abstractmethod
    def check_size(self, n: int) -> int:
        """``n`` if the problem's parameters (index, count, ...) fit ``n × n`` matrices, else
        ``ValueError`` naming the parameter."""

    def validate(self, *data, check_finite: bool = True) -> tuple:
        """Checked, normalized data, one entry per ``data_names``.

        ``A`` comes back symmetrized (``matrices.as_symmetric``); further data is checked by
        ``validate_extra`` and all batch dimensions are broadcast together as torch does.
        ``check_finite=False`` skips the nan/inf test of ``A`` only (a backend that sets
        ``checks_finite`` tests it itself); other data is always tested.
        """
        names = self.data_names
        if len(data) != len(names):
            given = len(data)
            raise TypeError(
                f"{type(self).__name__} takes {len(names)} data argument(s) "
                f"({', '.join(names)}), got {given}"
            )
        A = as_symmetric(data[0], names[0], check_finite=check_finite)
        self.check_size(A.shape[-1])
        if len(names) == 1:
            return (A,)
        return self.validate_extra(A, *data[1:])

    def validate_extra(self, A, *rest) -> tuple:
        """Check data beyond ``A`` (only problems with more data override this)."""
        raise NotImplementedError  # pragma: no cover - data_names has one entry by default


def _as_tensor_like(name: str, value, A) -> torch.Tensor:
    """``value`` as a tensor of ``A``'s dtype and device, else ``TypeError`` naming ``name``."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}"
            ) from None
    if value.dtype != A.dtype:
        raise TypeError(f"{name} must have the dtype of A ({A.dtype}), got {value.dtype}")
    if value.device != A.device:
        raise ValueError(f"{name} must be on A's device ({A.device}), got {value.device}")
    return value


def _expand(A, batch: torch.Size):
    """``A`` (dense or ``SymTridiagonal``) with its batch dimensions expanded to ``batch``."""
    n = A.shape[-1]
    if isinstance(A, SymTridiagonal):
        return SymTridiagonal(A.diag.expand(*batch, n), A.off.expand(*batch, n - 1))
    return A.expand(*batch, n, n)


def broadcast_data(A, name: str, value, trailing: int) -> tuple:
    """``(A, value)`` with ``value`` checked and both batch shapes broadcast as in torch.

    ``value`` must be finite, of ``A``'s dtype and device, and end in ``trailing``
    dimensions of size ``n`` (a vector: 1, a matrix: 2); its leading dimensions and ``A``'s
    batch broadcast, else ``ValueError`` naming ``name``.
    """
    value = _as_tensor_like(name, value, A)
    n = A.shape[-1]
    core = (n,) * trailing
    shape_text = "(..., " + ", ".join(["n"] * trailing) + ")"
    if value.ndim < trailing or tuple(value.shape[value.ndim - trailing:]) != core:
        raise ValueError(
            f"{name} must have shape {shape_text} with n = {n} (A is {n}x{n}), "
            f"got {tuple(value.shape)}"
        )
    require_finite(value, name)
    a_batch, v_batch = A.shape[:-2], value.shape[: value.ndim - trailing]
    try:
        batch = torch.broadcast_shapes(a_batch, v_batch)
    except RuntimeError:
        raise ValueError(
            f"{name}'s batch shape {tuple(v_batch)} does not broadcast with A's "
            f"{tuple(a_batch)}"
        ) from None
    if batch != a_batch:
        A = _expand(A, batch)
    if batch != v_batch:
        value = value.expand(*batch, *core)
    return A, value
