"""benchmarks/spectrum.py runs at tiny size, checks its baselines against ours, and reports."""

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "spectrum.py"


def _module():
    spec = importlib.util.spec_from_file_location("benchmarks_spectrum", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_spectrum_benchmark_runs_small(capsys):
    import torch

    from optneuron.kernels import set_num_threads

    torch_threads = torch.get_num_threads()
    try:
        results = _module().main(["--small", "--repeats", "1", "--threads", "1",
                                  "--small-batches"])
    finally:
        set_num_threads(None)
        torch.set_num_threads(torch_threads)
    tri, dense = results
    assert tri["max_abs_diff_vs_scipy"] < 1e-12
    assert dense["max_abs_diff_vs_torch"] < 1e-4  # float32 against torch's float32 eigh
    assert set(tri["forward_backward"]) == {"ours", "OptLayer (ours, through torch)",
                                            "scipy eigh_tridiagonal", "torch eigh (dense)"}
    assert all(t >= 0 for r in results for path in ("forward_backward", "value_only")
               for t in r[path].values())
    out = capsys.readouterr().out
    assert "| tridiagonal float64 n=6 B=8 | forward_backward | ours |" in out
    assert "| tridiagonal n=6, batch | ours (us per matrix) |" in out and "\n| 64 | " in out


def test_scipy_and_torch_baselines_compute_the_mixture_gradient():
    mod = _module()
    d, e, w = mod._tridiagonal_inputs(3, 5, np.float64, seed=2)
    import torch

    A = torch.from_numpy(mod._dense_of(d, e))
    lam, G = mod.torch_mixture(A, torch.from_numpy(w))
    vals, gd, ge = mod.scipy_tridiagonal_mixture(d, e, w)
    np.testing.assert_allclose(vals, lam.numpy(), atol=1e-13)
    np.testing.assert_allclose(gd, np.diagonal(G.numpy(), axis1=1, axis2=2), atol=1e-13)
    np.testing.assert_allclose(ge, 2 * np.diagonal(G.numpy(), 1, axis1=1, axis2=2), atol=1e-13)
