"""Argument checks shared by the whole package: one place, one wording.

Every check takes the argument's *name* first so that its ``TypeError``/``ValueError`` names
what was wrong; each returns the normalized value (a Python ``int`` or ``float``), so callers
write ``self.count = check_int("count", count, low=1)``. This module imports nothing of ours:
problems, pencils, neurons, estimators and plots all sit above it.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["check_int", "check_real", "check_index", "check_optional_real"]


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """``int(value)`` for an integral ``value`` (not a bool) with ``low ≤ value ≤ high``.

    ``TypeError`` if ``value`` is not integral; ``ValueError`` naming ``name`` and the valid
    range if it is outside ``[low, high]`` (either bound may be ``None``: unbounded).
    """
    if type(value) is not int:  # a plain int skips the ABC check (every layer call runs this)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {_range_text(low, high)}, got {value}")
    return value


def check_real(
    name: str,
    value,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``float(value)`` for a finite real ``value`` (not a bool) inside the given interval.

    The interval is ``[low, high]``; ``low_open``/``high_open`` exclude an end (so
    ``low=0, low_open=True`` means positive). ``TypeError`` if ``value`` is not real,
    ``ValueError`` if it is nan/inf or outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be finite and in {left}{low}, {high}{right}, got {value!r}")
    return value


def check_optional_real(name: str, value, **interval) -> float | None:
    """``None`` stays ``None``; anything else goes through ``check_real(name, value, ...)``."""
    return None if value is None else check_real(name, value, **interval)


def check_index(name: str, index, size: int, *, what: str = "matrices") -> int:
    """``index`` (0-based, negative counts from the end, like Python) against ``size``.

    Returns the index as given (an ``int``, sign kept); ``ValueError`` if it is outside
    ``-size .. size-1``, naming ``name``, ``size`` and ``what`` it indexes.
    """
    index = check_int(name, index)
    if not -size <= index < size:
        raise ValueError(
            f"{name} {index} is out of range for {what} of size {size} "
            f"(valid: {-size} .. {size - 1})"
        )
    return index


def _range_text(low: int | None, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    if low is None:
        return f"at most {high}"
    return f"in {low} .. {high}"
