"""Tables with categorical columns for the estimators: which columns are categorical, and
their values as integer codes.

``categorical_mask(X, categorical_features)`` follows scikit-learn's
``HistGradientBoosting*`` convention: ``"from_dtype"`` marks the columns of a pandas DataFrame
whose dtype is ``object``, ``category``, ``bool`` or a string dtype (a numpy array has none);
otherwise a list of column names, of indices, or a boolean mask; ``None`` marks none.

``CategoryCodes`` is fitted on the categorical columns: in each column, the categories seen
at least ``min_frequency`` times get the codes ``0 … n − 1`` (sorted by their ``str``), the
rest (and, at ``transform``, categories never seen) get the code ``-1``: the column's unknown
category. A column with more than ``max_categories`` such categories is hashed instead: the
code is ``crc32(str(value)) mod max_categories`` (stable across runs and processes), so its
table has ``max_categories`` rows whatever the number of categories. Missing values (``None``,
``NaN``) are one more category, ``"<missing>"``.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

__all__ = ["categorical_mask", "CategoryCodes", "column", "n_columns"]

_MISSING = "<missing>"


def n_columns(X) -> int:
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"X must be 2-d (n_samples, n_features), got shape {shape}")
    return int(shape[1])


def column(X, j: int) -> np.ndarray:
    """Column ``j`` of a DataFrame or a 2-d array, as a 1-d numpy array."""
    if hasattr(X, "iloc"):
        return np.asarray(X.iloc[:, j].to_numpy(dtype=object))
    return np.asarray(X)[:, j]


def _is_categorical_dtype(dtype) -> bool:
    kind = getattr(dtype, "kind", None)
    name = str(getattr(dtype, "name", dtype))
    return kind in ("O", "b", "U", "S") or name in ("category", "bool", "boolean") \
        or name.startswith("str") or name.startswith("string")


def categorical_mask(X, categorical_features) -> np.ndarray:
    """Boolean mask over the columns of ``X`` (see the module docstring)."""
    n = n_columns(X)
    if categorical_features is None:
        return np.zeros(n, dtype=bool)
    if isinstance(categorical_features, str):
        if categorical_features != "from_dtype":
            raise ValueError("categorical_features must be 'from_dtype', None, a list of column "
                             f"names or indices, or a boolean mask; got {categorical_features!r}")
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None:
            return np.zeros(n, dtype=bool)
        return np.array([_is_categorical_dtype(d) for d in dtypes], dtype=bool)
    items = list(categorical_features)
    mask = np.zeros(n, dtype=bool)
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        if len(items) != n:
            raise ValueError(f"categorical_features as a boolean mask must have {n} entries, "
                             f"got {len(items)}")
        return np.array(items, dtype=bool)
    names = list(getattr(X, "columns", []))
    for v in items:
        if isinstance(v, str):
            if v not in names:
                raise ValueError(f"categorical_features names column {v!r}, which X does not "
                                 f"have (columns: {names})")
            mask[names.index(v)] = True
        elif isinstance(v, (int, np.integer)) and -n <= v < n:
            mask[int(v)] = True
        else:
            raise ValueError(f"categorical_features entries must be column names or indices in "
                             f"[-{n}, {n}); got {v!r}")
    return mask


def _keys(values: np.ndarray) -> list[str]:
    """``str`` of each value; ``None`` and ``NaN`` become ``"<missing>"``."""
    out = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(_MISSING)
        else:
            out.append(str(v))
    return out


class CategoryCodes:
    """Integer codes for categorical columns (see the module docstring).

    After ``fit``: ``categories[j]`` (the coded categories of column ``j``, as strings; for a
    hashed column the categories seen), ``hashed[j]`` and ``cardinalities[j]`` (rows of its
    matrix table without the unknown row).
    """

    def __init__(self, max_categories: int = 1024, min_frequency: int = 1):
        self.max_categories, self.min_frequency = int(max_categories), int(min_frequency)

    def fit(self, columns: list[np.ndarray], sample_weight=None) -> CategoryCodes:
        self.categories, self.hashed, self.cardinalities, self._index = [], [], [], []
        for values in columns:
            keys = np.array(_keys(values), dtype=object)
            uniques, counts = np.unique(keys, return_counts=True)
            kept = sorted(u for u, c in zip(uniques.tolist(), counts) if c >= self.min_frequency)
            hashed = len(kept) > self.max_categories
            self.categories.append(np.array(kept, dtype=object))
            self.hashed.append(hashed)
            self.cardinalities.append(self.max_categories if hashed else max(len(kept), 1))
            self._index.append({k: i for i, k in enumerate(kept)})
        return self

    def transform(self, columns: list[np.ndarray]) -> np.ndarray:
        """Codes ``(n_samples, n_columns)`` int64; ``-1`` for the unknown category."""
        n = len(columns[0]) if columns else 0
        codes = np.empty((n, len(columns)), dtype=np.int64)
        for j, values in enumerate(columns):
            keys = _keys(values)
            if self.hashed[j]:
                codes[:, j] = [zlib.crc32(k.encode()) % self.max_categories for k in keys]
            else:
                index = self._index[j]
                codes[:, j] = [index.get(k, -1) for k in keys]
        return codes

    def code_of(self, j: int, value) -> int:
        """The code of one ``value`` of column ``j`` (``-1``: unknown)."""
        key = _keys(np.array([value], dtype=object))[0]
        if self.hashed[j]:
            return zlib.crc32(key.encode()) % self.max_categories
        return self._index[j].get(key, -1)
