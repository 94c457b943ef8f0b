"""Sturm passes per eigenvalue from the kernels' start (the spectrum's moments) and from the
start they had before (the count interpolated linearly over Gershgorin's interval).

    python -m benchmarks.laguerre_start

Each iteration is the kernels' own ``laguerre_start`` / ``laguerre_update`` driven one matrix at
a time by the kernels' ``lanes_sturm_laguerre`` on one lane; only the first point differs.
Prints the mean passes per eigenvalue (the cluster test's counts not included) for several
matrix sets and relative indices k / n.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optneuron.kernels import _compiled as K


@njit(cache=False)
def _passes(d, e, k, interpolated):
    """Sturm passes until laguerre_update stops, for lam_k of the scaled tridiagonal (d, e):
    each pass is the kernels' own lanes_sturm_laguerre on one lane."""
    n = d.shape[0]
    gl, gu, tn, mean, sd = K.spectral_bounds(d, e, n)
    st = np.zeros(K.STATE_SIZE)
    K.laguerre_start(st, gl, gu, n, k, mean, sd)
    if interpolated:
        st[K._X] = K._interpolate(gl, gu, 0.0, float(n), k)
    L = K.LANES
    dT = np.zeros((n, L))
    e2T = np.zeros((n, L))
    dT[:, 0] = d
    e2T[:n - 1, 0] = e * e
    S = np.zeros(K._LROWS * L)
    for it in range(1, K.MAXIT + 1):
        S[K._LX * L] = st[K._X]
        K.lanes_sturm_laguerre(dT, e2T, n, S, 1)
        if K.laguerre_update(st, int(S[K._LCNT * L]), S[K._LG * L], S[K._LH * L], k,
                            float(n), tn):
            return it
    return K.MAXIT


def _scaled(d, e):
    amax = max(np.abs(d).max(), np.abs(e).max())
    return d / amax, e / amax


def matrix_sets() -> dict:
    """The training benchmark's first batch (``bench.training_case``'s model at its start) and
    random tridiagonals."""
    rng = np.random.default_rng(0)
    z = np.hstack([rng.standard_normal((64, 8)), np.ones((64, 1))])
    W_d, W_e = 0.3 * rng.standard_normal((9, 45)), 0.3 * rng.standard_normal((9, 44))
    return {
        "training batch, n=45": [(z[b] @ W_d, z[b] @ W_e) for b in range(64)],
        "Gaussian, n=45": [(rng.standard_normal(45), rng.standard_normal(44))
                           for _ in range(64)],
        "diagonally dominant, n=45": [(5 * rng.standard_normal(45),
                                       0.3 * rng.standard_normal(44)) for _ in range(64)],
        "Gaussian, n=200": [(rng.standard_normal(200), rng.standard_normal(199))
                            for _ in range(16)],
    }


def main() -> dict:
    out = {}
    print("| matrices | k/n | passes, moments | passes, interpolated |\n|---|---|---|---|")
    for name, mats in matrix_sets().items():
        for frac in (0.0, 0.1, 0.5, 0.9, 1.0):
            counts = {False: [], True: []}
            for d, e in mats:
                d, e = _scaled(d, e)
                k = min(int(frac * len(d)), len(d) - 1)
                for interpolated in counts:
                    counts[interpolated].append(_passes(d, e, k, interpolated))
            row = (float(np.mean(counts[False])), float(np.mean(counts[True])))
            out[(name, frac)] = row
            print(f"| {name} | {frac} | {row[0]:.2f} | {row[1]:.2f} |")
    return out


if __name__ == "__main__":
    main()
