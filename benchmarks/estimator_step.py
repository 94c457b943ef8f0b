"""Where a ``SpectralRegressor`` training step spends its time, timed inside real epochs.

    python -m benchmarks.estimator_step [--rows 100000] [--fits 3]

Fits the estimator with its defaults (``max_iter=1``, no early stopping) on ``make_friedman1``
while timers wrap the step's parts: the whole step (``training._Step``), the fused forward
(``fused._forward``: offset, coordinates, eigen-solve, readout), the eigen kernel inside it
(``kernels.tiny.pencil_eigenvalue_unchecked``), the fused backward (``fused._backward``) and
the Adam update (``training._AdamUpdate``). Prints microseconds per step. Timed inside the
epoch rather than in a tight loop on purpose: between the parts, torch's and numpy's own code
evicts the caches, which a tight loop never sees.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter


def _timed(owner, name: str, label: str, totals: Counter) -> None:
    """Replace ``owner.name`` by a wrapper that adds its seconds to ``totals[label]``."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def step_parts(rows: int = 100_000, fits: int = 3) -> dict[str, float]:
    """Microseconds per training step of each part (module docstring)."""
    from sklearn.datasets import make_friedman1

    from optneuron import SpectralRegressor, fused, training
    from optneuron.kernels import tiny

    X, y = make_friedman1(n_samples=rows, noise=1.0, random_state=0)
    model = SpectralRegressor(random_state=0, max_iter=1, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:256], y[:256])  # compile / load the kernels outside the timing
        totals, steps = Counter(), Counter()
        step_call = training._Step.__call__

        def counted_step(self, *args):
            steps["n"] += 1
            return step_call(self, *args)

        training._Step.__call__ = counted_step
        parts = [(training._Step, "__call__", "step"), (fused, "_forward", "forward"),
                 (tiny, "pencil_eigenvalue_unchecked", "kernel"),
                 (fused, "_backward", "backward"), (training._AdamUpdate, "__call__", "adam")]
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in parts]
        try:
            for owner, name, label in parts:
                _timed(owner, name, label, totals)
            for _ in range(fits):
                model.fit(X, y)
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)
            training._Step.__call__ = step_call
    return {label: round(totals[label] / steps["n"] * 1e6, 1) for _, _, label in parts}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimator_step",
                                     description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--fits", type=int, default=3)
    args = parser.parse_args(argv)
    out = step_parts(args.rows, args.fits)
    print(json.dumps(out, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()
