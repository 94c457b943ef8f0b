"""Parameters and gradients held as consecutive views of one flat tensor.

An elementwise optimizer update runs each of its operations once per tensor: Adam's ten
operations over the estimators' five small parameter tensors were ~50 dispatches, 119 µs of a
~600 µs training step (timed inside a ``SpectralRegressor`` epoch, 2026-12-03). Over one flat
tensor that covers all five they are ten, with the same numbers: every operation is
elementwise, so each element sees the same arithmetic (tests/test_packing.py checks the bits
against ``torch.optim.Adam`` on the separate tensors).

``pack_parameters(module)`` makes a module's parameters views of one flat tensor (same
``Parameter`` objects, same values); ``packed_like(params, arrays)`` returns gradients laid out
the same way; ``flat_view(tensors)`` recovers the flat tensor behind consecutive views, or
``None`` when they are not (a model that was never packed, or whose parameters were replaced
since, e.g. by ``.to(dtype)``): callers then take their per-tensor path.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["pack_parameters", "packed_like", "flat_view"]


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


def packed_like(params, arrays) -> list[torch.Tensor]:
    """``arrays`` (numpy, one per parameter, each of its parameter's shape) copied into one
    flat tensor and returned as its consecutive views, shaped like ``params``."""
    sizes = [p.numel() for p in params]
    flat = torch.empty(sum(sizes), dtype=params[0].dtype)
    out = flat.numpy()
    offset = 0
    for a, n in zip(arrays, sizes):
        out[offset:offset + n] = np.ravel(a)
        offset += n
    return [part.view(p.shape) for part, p in zip(flat.split(sizes), params)]


def flat_view(tensors) -> torch.Tensor | None:
    """The one contiguous tensor whose consecutive slices ``tensors`` are, in order, covering it
    exactly; else ``None``. Views made by slicing one tensor (``packed_like``) are recognized by
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
