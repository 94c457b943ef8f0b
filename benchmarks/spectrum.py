"""Mixture of eigenvalues <w, lam(A)>: forward + backward with the full-spectrum kernels
against SciPy and torch (issue 16's targets: tridiagonal >= 10x SciPy, dense >= 3x torch eigh).

    python -m benchmarks.spectrum [--repeats 7] [--threads 2] [--small] [--small-batches]

Cases (all timed in one process, interleaved round by round; medians; ratios = baseline / ours):
  * tridiagonal float64, n = 45, B = 1024: ``tridiagonal_spectrum(d, e, w)`` (values and the
    gradient terms sum_k w_k q_ik^2, 2 sum_k w_k q_ik q_{i+1,k}) against SciPy's
    ``eigh_tridiagonal`` per matrix (full spectrum with vectors, gradient formed in numpy), and
    against ``torch.linalg.eigh`` forward + backward on the dense matrices;
  * dense float32, n = 16, B = 4096: ``dense_spectrum(A, w)`` (values, Q diag(w) Q^T) against
    ``torch.linalg.eigh`` forward + backward;
  * the value-only paths against ``scipy.linalg.eigvalsh_tridiagonal`` / ``torch.linalg.eigvalsh``;
  * "OptLayer": the same forward + backward through the layer users call,
    ``OptLayer(EigenvalueMixture())(A, w).value.sum().backward()`` (tensors in, autograd,
    validation), which must keep most of the kernels' lead.
Every gradient is checked against the first baseline's before timing.

``--small-batches`` adds value-only times per matrix for batches of 1 to 64 tridiagonals
(n = 45), ours against SciPy's ``eigvalsh_tridiagonal``: the lanes (kernels/_spectrum.py) run
up to ``LANES`` matrices side by side, and below ``LANES_MIN`` matrices a call takes the scalar
QL.
"""

import argparse
import json

import numpy as np
import scipy.linalg
import torch

from benchmarks.bench import interleaved_medians
from optneuron import EigenvalueMixture, OptLayer, SymTridiagonal
from optneuron.kernels import dense_spectrum, set_num_threads, tridiagonal_spectrum

_LAYER = OptLayer(EigenvalueMixture(), method="kernel")


def _tridiagonal_inputs(B, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((B, n)).astype(dtype)
    e = rng.standard_normal((B, n - 1)).astype(dtype)
    w = rng.standard_normal((B, n))
    return d, e, w


def _dense_of(d, e):
    B, n = d.shape
    T = np.zeros((B, n, n), dtype=d.dtype)
    i = np.arange(n)
    T[:, i, i] = d
    T[:, i[:-1], i[1:]] = e
    T[:, i[1:], i[:-1]] = e
    return T


def scipy_tridiagonal_mixture(d, e, w):
    """SciPy's approach: eigh_tridiagonal per matrix, then the gradient terms in numpy."""
    B, n = d.shape
    vals = np.empty((B, n))
    gd = np.empty((B, n))
    ge = np.empty((B, n - 1))
    for b in range(B):
        lam, Q = scipy.linalg.eigh_tridiagonal(d[b], e[b])
        vals[b] = lam
        Qw = Q * w[b]
        gd[b] = np.einsum("ik,ik->i", Qw, Q)
        ge[b] = 2.0 * np.einsum("ik,ik->i", Qw[:-1], Q[1:])
    return vals, gd, ge


def scipy_tridiagonal_values(d, e):
    return np.stack([scipy.linalg.eigvalsh_tridiagonal(d[b], e[b]) for b in range(d.shape[0])])


def torch_mixture(A, w):
    """torch.linalg.eigh forward and autograd backward of sum_b <w_b, lam(A_b)>."""
    A = A.detach().clone().requires_grad_(True)
    lam = torch.linalg.eigh(A)[0]
    (lam * w).sum().backward()
    return lam.detach(), A.grad


_LEAVES = {}


def layer_mixture(A, w):
    """Forward + backward through ``OptLayer(EigenvalueMixture())``: dense ``A (B, n, n)`` or a
    pair ``(d, e)`` of tensors for a tridiagonal batch; returns the value and the gradients.

    The leaves are made once per input and their ``.grad`` reset, as a training loop does with
    its parameters (a fresh copy per call timed torch's parallel copy, and left its OpenMP
    workers spinning beside the kernels)."""
    inputs = A if isinstance(A, tuple) else (A,)
    key = tuple(id(x) for x in inputs)  # the inputs are kept below, so their ids stay theirs
    if key not in _LEAVES:
        _LEAVES[key] = (inputs, [x.detach().clone().requires_grad_(True) for x in inputs])
    leaves = _LEAVES[key][1]
    for leaf in leaves:
        leaf.grad = None
    data = SymTridiagonal(*leaves) if len(leaves) == 2 else leaves[0]
    value = _LAYER(data, w).value
    value.sum().backward()
    return value.detach(), [leaf.grad for leaf in leaves]


def tridiagonal_case(B, n, repeats):
    d, e, w = _tridiagonal_inputs(B, n, np.float64)
    A = torch.from_numpy(_dense_of(d, e))
    wt = torch.from_numpy(w)
    vals, gd, ge, _ = tridiagonal_spectrum(d, e, w)
    ref_vals, ref_gd, ref_ge = scipy_tridiagonal_mixture(d, e, w)
    dt, et = torch.from_numpy(d), torch.from_numpy(e)
    _, (layer_gd, layer_ge) = layer_mixture((dt, et), wt)
    check = max(np.abs(vals - ref_vals).max(), np.abs(gd - ref_gd).max(),
                np.abs(ge - ref_ge).max(), np.abs(layer_gd.numpy() - ref_gd).max(),
                np.abs(layer_ge.numpy() - ref_ge).max())
    fwd_bwd = interleaved_medians({
        "ours": lambda: tridiagonal_spectrum(d, e, w),
        "OptLayer (ours, through torch)": lambda: layer_mixture((dt, et), wt),
        "scipy eigh_tridiagonal": lambda: scipy_tridiagonal_mixture(d, e, w),
        "torch eigh (dense)": lambda: torch_mixture(A, wt),
    }, repeats)
    values = interleaved_medians({
        "ours": lambda: tridiagonal_spectrum(d, e),
        "scipy eigvalsh_tridiagonal": lambda: scipy_tridiagonal_values(d, e),
        "torch eigvalsh (dense)": lambda: torch.linalg.eigvalsh(A),
    }, repeats)
    return {"case": f"tridiagonal float64 n={n} B={B}", "max_abs_diff_vs_scipy": float(check),
            "forward_backward": fwd_bwd, "value_only": values}


def dense_case(B, n, repeats):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((B, n, n)).astype(np.float32)
    A = (A + A.transpose(0, 2, 1)) / 2
    w = rng.standard_normal((B, n)).astype(np.float32)
    At = torch.from_numpy(A)
    wt = torch.from_numpy(w)
    vals, G, _ = dense_spectrum(A, w)
    ref_vals, ref_G = torch_mixture(At, wt)
    _, (layer_G,) = layer_mixture(At, wt)
    check = max(np.abs(vals - ref_vals.numpy()).max(), np.abs(G - ref_G.numpy()).max(),
                np.abs(layer_G.numpy() - ref_G.numpy()).max())
    fwd_bwd = interleaved_medians({
        "ours": lambda: dense_spectrum(A, w),
        "OptLayer (ours, through torch)": lambda: layer_mixture(At, wt),
        "torch eigh": lambda: torch_mixture(At, wt),
    }, repeats)
    values = interleaved_medians({
        "ours": lambda: dense_spectrum(A),
        "torch eigvalsh": lambda: torch.linalg.eigvalsh(At),
    }, repeats)
    return {"case": f"dense float32 n={n} B={B}", "max_abs_diff_vs_torch": float(check),
            "forward_backward": fwd_bwd, "value_only": values}


def small_batch_rows(n, batches, repeats):
    """Value-only microseconds per matrix for small batches, ours and SciPy's."""
    rows = []
    for B in batches:
        d, e, _ = _tridiagonal_inputs(B, n, np.float64, seed=B)
        times = interleaved_medians({
            "ours": lambda d=d, e=e: tridiagonal_spectrum(d, e),
            "scipy eigvalsh_tridiagonal": lambda d=d, e=e: scipy_tridiagonal_values(d, e),
        }, repeats)
        rows.append({"batch": B, **{k: 1e6 * t / B for k, t in times.items()}})
    return rows


def small_batch_markdown(rows, n):
    lines = [f"| tridiagonal n={n}, batch | ours (us per matrix) | scipy (us per matrix) |",
             "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['ours']:.1f} | {r['scipy eigvalsh_tridiagonal']:.1f} |")
    return "\n".join(lines)


def markdown(results):
    lines = ["| case | path | method | median ms | baseline / ours |", "|---|---|---|---|---|"]
    for r in results:
        for path in ("forward_backward", "value_only"):
            times = r[path]
            ours = times["ours"]
            for name, t in times.items():
                ratio = "" if name == "ours" else f"{t / ours:.1f}x"
                lines.append(f"| {r['case']} | {path} | {name} | {1e3 * t:.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spectrum", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="kernel and torch threads")
    parser.add_argument("--small", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--small-batches", action="store_true",
                        help="also time value-only calls on 1 to 64 matrices")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    if args.small:
        results = [tridiagonal_case(8, 6, args.repeats), dense_case(8, 4, args.repeats)]
    else:
        results = [tridiagonal_case(1024, 45, args.repeats), dense_case(4096, 16, args.repeats)]
    print(markdown(results))
    if args.small_batches:
        n = 6 if args.small else 45
        print()
        print(small_batch_markdown(small_batch_rows(n, (1, 4, 6, 8, 16, 64), args.repeats), n))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
