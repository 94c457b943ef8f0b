"""Side-by-side speed runs behind ``optneuron bench`` (results kept next to this file).

This is an application of the library, not part of it: it lives in the repository's
``benchmarks/`` (``python -m benchmarks`` from the repository root, or ``optneuron bench`` from a
checkout) and needs the ``dev`` extra (threadpoolctl).

Every case times our eigen backend and its baselines in one process, interleaved round by
round (so a noisy neighbour slows all of them alike), and reports medians and the ratio
baseline / ours. Nothing here asserts a time: the tests check correctness only.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import scipy
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

from optneuron import OptLayer, SphereQP, SymTridiagonal

__all__ = ["interleaved_medians", "run_benchmarks", "main"]


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed round-robin ``repeats`` times.

    Each timed call directly follows an untimed call of the same function, as inside a training
    loop: on a machine whose idle cores sleep deeply, the first call after another function's
    long single-threaded run otherwise pays the cores' wake-up (measured here: up to 10 ms),
    which says nothing about either solver.
    """
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            fn()
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def _random_dense(B: int, n: int, dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(B, n, n, generator=g, dtype=torch.float64)
    return ((A + A.mT) / 2).to(dtype)


def _random_tridiagonal(B: int, n: int, dtype, seed: int = 0) -> SymTridiagonal:
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(B, n, generator=g, dtype=torch.float64).to(dtype)
    e = torch.randn(B, n - 1, generator=g, dtype=torch.float64).to(dtype)
    return SymTridiagonal(d, e)


# --- one k-th eigenpair per matrix: the solvers side by side -------------------------------


def _ours_fwd_bwd(layer, A):
    leaf = A.detach().requires_grad_(True)
    layer(leaf).value.sum().backward()
    return leaf.grad


def _ours_value(layer, A):
    with torch.no_grad():
        return layer(A).value


def _torch_fwd_bwd(A, k):
    leaf = A.detach().requires_grad_(True)
    torch.linalg.eigvalsh(leaf)[:, k].sum().backward()
    return leaf.grad


def _scipy_fwd_bwd(A_np, k):
    """What a researcher writes by hand: LAPACK's selected eigenpair, then ``q qᵀ``."""
    grads = np.empty_like(A_np)
    for b in range(A_np.shape[0]):
        _, q = scipy.linalg.eigh(A_np[b], subset_by_index=[k, k])
        grads[b] = q @ q.T
    return grads


def _scipy_value(A_np, k):
    return [scipy.linalg.eigh(M, eigvals_only=True, subset_by_index=[k, k]) for M in A_np]


def dense_case(n: int, B: int, dtype, repeats: int, with_sdp: bool) -> dict:
    """Forward+backward and value-only of the middle eigenvalue of ``B`` dense ``n × n``."""
    A = _random_dense(B, n, dtype)
    k = n // 2
    ours = OptLayer(SphereQP(k))
    A_np = A.numpy()
    fwd = {
        "ours": lambda: _ours_fwd_bwd(ours, A),
        "torch.eigvalsh": lambda: _torch_fwd_bwd(A, k),
        "scipy.eigh": lambda: _scipy_fwd_bwd(A_np, k),
    }
    if with_sdp:
        sdp = OptLayer(SphereQP(k), "sdp")
        fwd["sdp"] = lambda: _ours_fwd_bwd(sdp, A)
    value = {
        "ours": lambda: _ours_value(ours, A),
        "torch.eigvalsh": lambda: torch.linalg.eigvalsh(A)[:, k],
        "scipy.eigh": lambda: _scipy_value(A_np, k),
    }
    return {
        "n": n, "batch": B, "dtype": str(dtype).replace("torch.", ""),
        "forward_backward": interleaved_medians(fwd, repeats),
        "value_only": interleaved_medians(value, repeats),
    }


def _scipy_tridiagonal_fwd_bwd(d_np, e_np, k):
    grads = np.empty_like(d_np), np.empty_like(e_np)
    for b in range(d_np.shape[0]):
        _, q = scipy.linalg.eigh_tridiagonal(d_np[b], e_np[b], select="i", select_range=(k, k))
        q = q[:, 0]
        grads[0][b], grads[1][b] = q * q, 2 * q[:-1] * q[1:]
    return grads


def tridiagonal_case(n: int, B: int, dtype, repeats: int) -> dict:
    """Middle eigenpair of ``B`` tridiagonal ``n × n``: ours vs SciPy vs dense torch."""
    T = _random_tridiagonal(B, n, dtype)
    k = n // 2
    ours = OptLayer(SphereQP(k))
    d_np, e_np = T.diag.numpy(), T.off.numpy()
    dense = T.to_dense()

    def ours_fwd_bwd():
        d, e = T.diag.clone().requires_grad_(True), T.off.clone().requires_grad_(True)
        ours(SymTridiagonal(d, e)).value.sum().backward()

    fwd = {
        "ours": ours_fwd_bwd,
        "scipy.eigh_tridiagonal": lambda: _scipy_tridiagonal_fwd_bwd(d_np, e_np, k),
        "torch.eigvalsh (dense)": lambda: _torch_fwd_bwd(dense, k),
    }
    return {
        "n": n, "batch": B, "dtype": str(dtype).replace("torch.", ""),
        "forward_backward": interleaved_medians(fwd, repeats),
    }


# --- a training epoch of one neuron ----------------------------------------------------------


class _ScipyTridiagonalEig(torch.autograd.Function):
    """The SciPy approach to a tridiagonal neuron: ``eigh_tridiagonal`` per sample."""

    @staticmethod
    def forward(ctx, d, e, k):
        d_np, e_np = d.detach().numpy(), e.detach().numpy()
        values = np.empty(d_np.shape[0])
        Q = np.empty_like(d_np)
        for b in range(d_np.shape[0]):
            w, q = scipy.linalg.eigh_tridiagonal(d_np[b], e_np[b], select="i",
                                                 select_range=(k, k))
            values[b], Q[b] = w[0], q[:, 0]
        q = torch.from_numpy(Q).to(d.dtype)
        ctx.save_for_backward(q)
        return torch.from_numpy(values).to(d.dtype)

    @staticmethod
    def backward(ctx, grad):
        (q,) = ctx.saved_tensors
        g = grad.unsqueeze(-1)
        return g * q * q, 2 * g * q[:, :-1] * q[:, 1:], None


def _epoch(model_value: Callable, params, Z, y, batch: int, seed: int = 0) -> None:
    opt = torch.optim.Adam(params, lr=1e-2)
    order = torch.randperm(len(Z), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(Z), batch):
        idx = order[start:start + batch]
        loss = ((model_value(Z[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


#: a training loop with the eigenvalue replaced by a sum: what every approach pays besides it
NO_SOLVE = "same loop without the solve"


def training_data(structure: str, dim: int, rows: int = 20_000, features: int = 8):
    """``(Z1, y, params)`` of ``training_case``: ``rows × features`` standard normal inputs with
    a ones column appended, targets ``sin z_0 + z_1 z_2``, and the pencil's weights (``W_d
    (features+1, dim)`` and ``W_e (features+1, dim-1)`` for ``"tridiagonal"``, ``W
    (features+1, dim²)`` otherwise), float32, seeded."""
    g = torch.Generator().manual_seed(1)
    Z = torch.randn(rows, features, generator=g, dtype=torch.float32)
    y = torch.sin(Z[:, 0]) + Z[:, 1] * Z[:, 2]
    sizes = (dim, dim - 1) if structure == "tridiagonal" else (dim * dim,)
    params = [(0.3 * torch.randn(features + 1, m, generator=g)).requires_grad_(True)
              for m in sizes]
    return torch.cat([Z, torch.ones(rows, 1)], dim=1), y, params


def training_case(structure: str, dim: int, batch: int, rows: int = 20_000, features: int = 8,
                  repeats: int = 3, only: tuple[str, ...] | None = None) -> dict:
    """One Adam epoch of a middle-eigenvalue neuron ``λ_k(A_0 + Σ z_i A_i)`` on ``rows × 8``;
    ``only`` times just the named approaches (default: ours and every baseline)."""
    Z1, y, params = training_data(structure, dim, rows, features)
    k = dim // 2
    if structure == "tridiagonal":
        W_d, W_e = params
        layer = OptLayer(SphereQP(k))

        def ours(z):
            return layer(SymTridiagonal(z @ W_d, z @ W_e)).value

        def scipy_approach(z):
            return _ScipyTridiagonalEig.apply(z @ W_d, z @ W_e, k)

        def no_solve(z):  # the floor both approaches pay: matmuls, loss, backward, Adam
            return (z @ W_d).sum(-1) + (z @ W_e).sum(-1)

        fns = {"ours": ours, "scipy.eigh_tridiagonal": scipy_approach,
               NO_SOLVE: no_solve}
    else:
        (W,) = params
        layer = OptLayer(SphereQP(k))

        def matrices(z):
            M = (z @ W).reshape(-1, dim, dim)
            return (M + M.mT) / 2

        fns = {
            "ours": lambda z: layer(matrices(z)).value,
            "torch.eigvalsh": lambda z: torch.linalg.eigvalsh(matrices(z))[:, k],
            NO_SOLVE: lambda z: matrices(z).sum((-1, -2)),
        }
    epochs = {name: (lambda fn=fn: _epoch(fn, params, Z1, y, batch)) for name, fn in fns.items()
              if only is None or name in only}
    return {
        "structure": structure, "dim": dim, "batch": batch, "rows": rows,
        "epoch": interleaved_medians(epochs, repeats),
    }


# --- compile time ------------------------------------------------------------------------------


def compile_times() -> dict:
    """Seconds for ``kernels.warm_up()`` in a fresh process: cold cache, then warm cache."""
    code = (
        "import time; t = time.perf_counter(); from optneuron import kernels; "
        "kernels.warm_up(); print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = [
            float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(2)
        ]
    return {"cold_seconds": times[0], "warm_seconds": times[1]}


# --- the whole run -------------------------------------------------------------------------------


def _set_threads(threads: int | None) -> None:
    """torch's threads and the kernels' cap (``None``: the kernels' automatic choice)."""
    from optneuron import kernels

    torch.set_num_threads(threads or os.cpu_count())
    kernels.set_num_threads(threads)


def machine() -> dict:
    import numba

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def run_benchmarks(quick: bool = False, threads=(1, 2), progress=print) -> dict:
    """All suites at each thread count; returns a JSON-able dict.

    NumPy/SciPy's OpenBLAS runs on one thread throughout (``BLAS_NOTE``); "threads" sets
    torch's thread count and the kernels' cap (``optneuron.kernels.set_num_threads``).
    """
    with threadpool_limits(1, user_api="blas"):
        return _run_benchmarks(quick, threads, progress)


BLAS_NOTE = (
    "NumPy/SciPy's OpenBLAS runs on one thread (threadpoolctl; see the last section for why)."
)


def blas_threads_case(repeats: int = 7) -> dict:
    """Why OpenBLAS is pinned: SciPy's per-matrix eigh at one and two BLAS threads, and our
    2-thread dense call alone vs right after a 2-BLAS-thread SciPy call (its idle threads spin)."""
    from optneuron import kernels

    rng = np.random.default_rng(0)
    M = rng.standard_normal((1024, 45, 45))
    M = (M + M.transpose(0, 2, 1)) / 2
    kernel_threads = kernels.get_num_threads()
    _set_threads(2)
    A = _random_dense(64, 64, torch.float32)
    layer = OptLayer(SphereQP(32))
    ours = lambda: _ours_fwd_bwd(layer, A)  # noqa: E731
    out = {"ours, dense fwd+bwd n=64 B=64, 2 threads, alone": interleaved_medians(
        {"t": ours}, repeats)["t"]}
    for blas in (1, 2):
        with threadpool_limits(blas, user_api="blas"):
            out[f"scipy.eigh n=45 B=1024, {blas} BLAS thread(s)"] = interleaved_medians(
                {"t": lambda: _scipy_value(M, 22)}, repeats)["t"]
    after = []
    with threadpool_limits(2, user_api="blas"):
        for _ in range(repeats):
            _scipy_fwd_bwd(A.numpy(), 32)  # the dense n=64 B=64 baseline
            ours()  # the bench's untimed call: not enough for the spin to stop
            start = time.perf_counter()
            ours()
            after.append(time.perf_counter() - start)
    _set_threads(kernel_threads)
    out["ours, same, right after SciPy on 2 BLAS threads"] = statistics.median(after)
    return out


def _run_benchmarks(quick: bool, threads, progress) -> dict:
    sizes = [4, 8, 16, 32, 45, 64] if not quick else [8, 16, 45]
    batches = [64, 1024, 4096] if not quick else [64, 1024]
    dtypes = [torch.float32, torch.float64] if not quick else [torch.float32]
    repeats = 7 if not quick else 3
    results = {"machine": machine(), "compile": compile_times(), "runs": [],
               "blas_threads": blas_threads_case() if not quick else {}}
    for t in threads:
        _set_threads(t)
        run = {"threads": t, "dense": [], "tridiagonal": [], "training": []}
        for dtype in dtypes:
            for n in sizes:
                for B in batches:
                    if n == 64 and B == 4096 and quick:
                        continue
                    progress(f"[threads={t}] dense n={n} B={B} {dtype}")
                    with_sdp = n <= 8 and B == 64
                    run["dense"].append(dense_case(n, B, dtype, repeats, with_sdp))
        for n, B in [(16, 1024), (45, 64), (45, 1024), (45, 4096)]:
            progress(f"[threads={t}] tridiagonal n={n} B={B}")
            run["tridiagonal"].append(tridiagonal_case(n, B, torch.float64, repeats))
        train = [("tridiagonal", 45, 64), ("tridiagonal", 45, 20_000), ("dense", 16, 64),
                 ("dense", 16, 20_000)]
        for structure, dim, batch in (train if not quick else train[:1]):
            progress(f"[threads={t}] training epoch {structure} dim={dim} batch={batch}")
            run["training"].append(training_case(structure, dim, batch,
                                                 repeats=5 if not quick else 1))
        results["runs"].append(run)
    progress("trust region: ours vs torch.linalg.eigh + vectorized secular solve")
    results["trust_region"] = _trust_region_rows(quick, repeats)
    return results


def _trust_region_rows(quick: bool, repeats: int) -> list[dict]:
    """``benchmarks/trust_region.py``'s cases (issue 12), at the thread setting in force."""
    from benchmarks import trust_region

    sizes = trust_region.SMALL if quick else trust_region.CASES
    return [trust_region.run(s, n, batch, repeats) for s, (n, batch) in sizes.items()]


def _label(row) -> str:
    if "structure" in row:
        return f"{row['structure']} dim={row['dim']} batch={row['batch']}"
    return f"{row['dtype']} n={row['n']} B={row['batch']}"


def _ratio_table(rows, key: str, baselines, label) -> list[str]:
    head = f"| {label} | ours (ms) | " + " | ".join(f"{b} (ms) | ×" for b in baselines) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(baselines))]
    for row in rows:
        t = row[key]
        cells = [f"{t['ours'] * 1e3:.2f}"]
        for b in baselines:
            if b in t:
                cells += [f"{t[b] * 1e3:.2f}", f"{t[b] / t['ours']:.1f}"]
            else:
                cells += ["", ""]
        lines.append(f"| {_label(row)} | " + " | ".join(cells) + " |")
    return lines


# The targets: (section, row filter, baseline, target ratio, label).
HEADLINES = [
    ("dense", {"dtype": "float32", "n": 16, "batch": 4096}, "torch.eigvalsh", 5.0,
     "dense fwd+bwd, float32 n=16 B=4096, vs torch.eigvalsh"),
    ("dense", {"dtype": "float32", "n": 45, "batch": 1024}, "torch.eigvalsh", 5.0,
     "dense fwd+bwd, float32 n=45 B=1024, vs torch.eigvalsh"),
    ("tridiagonal", {"n": 45, "batch": 1024}, "torch.eigvalsh (dense)", 20.0,
     "tridiagonal fwd+bwd, n=45 B=1024, vs dense torch"),
    ("tridiagonal", {"n": 45, "batch": 1024}, "scipy.eigh_tridiagonal", 8.0,
     "tridiagonal fwd+bwd, n=45 B=1024, vs SciPy"),
    # 6x since issue 13 (4x before it)
    ("training", {"structure": "tridiagonal", "dim": 45, "batch": 64}, "scipy.eigh_tridiagonal",
     6.0, "training epoch, tridiagonal dim=45 batch=64, vs SciPy approach"),
]
_TIMING_KEY = {"dense": "forward_backward", "tridiagonal": "forward_backward",
               "training": "epoch"}


def summary(results: dict) -> list[str]:
    """Headline ratios (baseline / ours) per thread count, next to the targets."""
    runs = results["runs"]
    head = "| case | target | " + " | ".join(
        f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" for r in runs) + " |"
    lines = [head, "|" + "---|" * (2 + len(runs))]
    for section, match, baseline, target, label in HEADLINES:
        cells = []
        for run in runs:
            rows = [r for r in run[section] if all(r.get(k) == v for k, v in match.items())]
            t = rows[0][_TIMING_KEY[section]] if rows else {}
            cells.append(f"{t[baseline] / t['ours']:.1f}×" if baseline in t else "—")
        lines.append(f"| {label} | ≥ {target:g}× | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict) -> str:
    """``RESULTS.md``: every table as ratios baseline / ours (higher is better for us)."""
    m = results["machine"]
    out = [
        "# Benchmarks", "",
        f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, torch {m['torch']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, numba {m['numba']}; {m['date']}.",
        "Medians of interleaved repeats in one process (each timed call right after an untimed "
        "call of the same function, as in a training loop); `×` = baseline time / ours.",
        BLAS_NOTE,
        "Reproduce: `optneuron bench` (or `python -m benchmarks`).", "",
        f"Kernel compile time (fresh process, `kernels.warm_up()`): cold cache "
        f"{results['compile']['cold_seconds']:.1f} s, warm cache "
        f"{results['compile']['warm_seconds']:.2f} s.", "",
        "## Summary: headline ratios by thread count", "",
        *summary(results), "",
    ]
    for run in results["runs"]:
        t = run["threads"]
        out += [f"## {t} thread{'s' if t > 1 else ''}", "",
                "### Dense, middle eigenvalue, forward + backward", ""]
        out += _ratio_table(run["dense"], "forward_backward",
                            ["torch.eigvalsh", "scipy.eigh", "sdp"], "case")
        out += ["", "### Dense, middle eigenvalue, value only (no_grad)", ""]
        out += _ratio_table(run["dense"], "value_only", ["torch.eigvalsh", "scipy.eigh"], "case")
        out += ["", "### Tridiagonal, middle eigenvalue, forward + backward", ""]
        out += _ratio_table(run["tridiagonal"], "forward_backward",
                            ["scipy.eigh_tridiagonal", "torch.eigvalsh (dense)"], "case")
        out += ["", "### One training epoch (20,000 × 8, Adam)", "",
                f"`{NO_SOLVE}`: the eigenvalue replaced by a sum; its `×` (below 1) is the share "
                "of our epoch that any approach pays besides the solve.", ""]
        out += _ratio_table(run["training"], "epoch",
                            ["scipy.eigh_tridiagonal", "torch.eigvalsh", NO_SOLVE], "neuron")
        out.append("")
    if results.get("trust_region"):
        from benchmarks import trust_region

        out += ["## Trust region, forward + backward (value and Danskin gradient)", "",
                "Baseline: `torch.linalg.eigh` of each matrix, then the batched torch secular "
                "solve (`method=\"lapack\"`); ours: the compiled path (`method=\"auto\"`).", "",
                trust_region.table(results["trust_region"]), ""]
    if results.get("blas_threads"):
        out += ["## Why OpenBLAS runs on one thread", "",
                "SciPy's per-matrix calls gain nothing from a second BLAS thread, and OpenBLAS's "
                "idle threads keep spinning after a call, slowing the next multithreaded code "
                "(ours here; any OpenMP code alike). Medians, ms:", "",
                "| measurement | ms |", "|---|---|"]
        out += [f"| {k} | {v * 1e3:.2f} |" for k, v in results["blas_threads"].items()]
        out.append("")
    return "\n".join(out)


def plot(results: dict, path: str) -> None:
    """Time against n (dense, forward+backward, B=1024 where measured) for each solver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results["runs"]), figsize=(5 * len(results["runs"]), 4),
                             squeeze=False)
    for ax, run in zip(axes[0], results["runs"]):
        rows = [r for r in run["dense"] if r["batch"] == 1024 and r["dtype"] == "float32"]
        for solver in ("ours", "torch.eigvalsh", "scipy.eigh"):
            ax.plot([r["n"] for r in rows], [r["forward_backward"][solver] * 1e3 for r in rows],
                    marker="o", label=solver)
        ax.set(xlabel="n", ylabel="ms (forward + backward, B=1024, float32)", yscale="log",
               title=f"{run['threads']} thread(s)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args) -> int:
    """Run, then write ``RESULTS.md``, ``results.json`` and ``time_vs_n.png`` to ``args.out``."""
    os.makedirs(args.out, exist_ok=True)
    results = run_benchmarks(quick=args.quick, threads=tuple(args.threads),
                             progress=lambda s: print(s, file=sys.stderr, flush=True))
    text = markdown(results)
    with open(os.path.join(args.out, "RESULTS.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    plot(results, os.path.join(args.out, "time_vs_n.png"))
    print(text)
    return 0


def add_arguments(parser) -> None:
    """The options of ``python -m benchmarks`` (the same as ``optneuron bench``)."""
    from optneuron.cli.bench import add_arguments as options

    options(parser)
