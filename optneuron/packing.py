"""Parameters and gradients held as consecutive views of one flat tensor.

An elementwise optimizer update runs each of its operations once per tensor: Adam's ten
operations over the estimators' five small parameter tensors were ~50 dispatches, 139–172 µs
of a 620–746 µs training step. Over one flat tensor that covers all five they are ten, 84–87
µs (``python -m benchmarks.estimator_step``, before and after, two runs each, 2026-12-03),
with the same numbers: every operation is elementwise, so each element sees the same
arithmetic (tests/test_packing.py checks the bits against ``torch.optim.Adam`` on the
separate tensors).

``pack_parameters(module)`` makes a module's parameters views of one flat tensor (same
``Parameter`` objects, same values); ``PackedGradients`` sets gradients laid out the same
way; ``flat_view(tensors)`` recovers the flat tensor behind consecutive views, or
``None`` when they are not (a model that was never packed, or whose parameters were replaced
since, e.g. by ``.to(dtype)``): callers then take their per-tensor path.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["pack_parameters", "PackedGradients", "flat_view"]


def pack_parameters(module: torch.nn.Module) -> torch.Tensor | None:
    """Point every parameter of ``module`` (``module.parameters()`` order) at consecutive
    slices of one new flat tensor holding the same values, and return it; ``None`` (nothing
    changed) when the parameters do not share one dtype and device."""
    params = list(module.parameters())
    if not params or len({(p.dtype, p.device) for p in params}) != 1:
        return None
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        p.data = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return flat


class PackedGradients:
    """Gradients laid out like packed parameters: one flat tensor (``buffer``, filled by the
    caller) whose consecutive views become the parameters' ``.grad`` (``attach``). The flat
    tensor is kept from call to call (reallocated when the parameters' shapes or dtype
    change): a step's gradients overwrite the previous step's in place, as an optimizer loop
    that does not keep them expects, and the views are set as gradients once."""

    def __init__(self):
        self.key = None
        self.views: list[torch.Tensor] = []
        self.out = None  # numpy view of the flat tensor

    def buffer(self, params) -> np.ndarray:
        """The flat gradient buffer for ``params`` (numpy, their order), to be written."""
        key = tuple((p.shape, p.dtype) for p in params)
        if key != self.key:
            sizes = [p.numel() for p in params]
            flat = torch.empty(sum(sizes), dtype=params[0].dtype)
            self.views = [part.view(p.shape) for part, p in zip(flat.split(sizes), params)]
            self.out, self.key = flat.numpy(), key
        return self.out

    def attach(self, params) -> None:
        """Make the buffer's views ``params``' gradients (after ``buffer(params)``)."""
        for p, view in zip(params, self.views):
            if p.grad is not view:
                p.grad = view


def flat_view(tensors) -> torch.Tensor | None:
    """The one contiguous tensor whose consecutive slices ``tensors`` are, in order, covering it
    exactly; else ``None``. Views made by slicing one tensor (``PackedGradients``) are known by
    their common ``_base``; others (``pack_parameters``' parameters) by their storage."""
    first = tensors[0]
    base = first._base
    if base is not None and all(t._base is base for t in tensors):
        if not base.is_contiguous() or base.dim() != 1:
            return None
        start = base.storage_offset()
    else:
        base, start = None, first.storage_offset()
        pointer = first.untyped_storage().data_ptr()
        if any(t.untyped_storage().data_ptr() != pointer for t in tensors):
            return None
    offset = start
    for t in tensors:
        if t.dtype != first.dtype or t.storage_offset() != offset or not t.is_contiguous():
            return None
        offset += t.numel()
    if base is not None:
        return base if base.numel() == offset - start else None
    return torch.empty(0, dtype=first.dtype, device=first.device).set_(
        first.untyped_storage(), start, (offset - start,))
