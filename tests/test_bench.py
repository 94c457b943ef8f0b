import torch

from optneuron import OptLayer, SphereQP, SymTridiagonal
from optneuron.cli.bench import load_benchmarks

_bench = load_benchmarks()  # benchmarks/bench.py of this checkout
_scipy_fwd_bwd = _bench._scipy_fwd_bwd
_ScipyTridiagonalEig = _bench._ScipyTridiagonalEig
blas_threads_case = _bench.blas_threads_case
dense_case = _bench.dense_case
interleaved_medians = _bench.interleaved_medians
markdown = _bench.markdown
training_case = _bench.training_case
tridiagonal_case = _bench.tridiagonal_case


def test_interleaved_medians_times_every_function():
    calls = []
    out = interleaved_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert set(out) == {"a", "b"} and all(v >= 0 for v in out.values())
    # one warm-up round, then three interleaved rounds; each timed call follows an untimed one
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3


def test_baselines_compute_the_same_gradient_as_ours():
    g = torch.Generator().manual_seed(0)
    d = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    e = torch.randn(5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    _ScipyTridiagonalEig.apply(d, e, 3).sum().backward()
    d2, e2 = d.detach().clone().requires_grad_(True), e.detach().clone().requires_grad_(True)
    OptLayer(SphereQP(3))(SymTridiagonal(d2, e2)).value.sum().backward()
    torch.testing.assert_close(d.grad, d2.grad)
    torch.testing.assert_close(e.grad, e2.grad)
    A = SymTridiagonal(d2.detach(), e2.detach()).to_dense()
    leaf = A.clone().requires_grad_(True)
    OptLayer(SphereQP(3))(leaf).value.sum().backward()
    torch.testing.assert_close(torch.from_numpy(_scipy_fwd_bwd(A.numpy(), 3)), leaf.grad)


def test_cases_and_report_render():
    run = {
        "threads": 1,
        "dense": [dense_case(4, 8, torch.float64, repeats=1, with_sdp=True)],
        "tridiagonal": [tridiagonal_case(5, 8, torch.float64, repeats=1)],
        "training": [training_case("tridiagonal", 5, 32, rows=64, repeats=1),
                     training_case("dense", 4, 32, rows=64, repeats=1)],
    }
    machine = {k: "x" for k in ("cpu", "cores", "python", "torch", "numpy", "scipy", "numba",
                                "date")}
    blas = blas_threads_case(repeats=1)
    assert len(blas) == 4 and all(v > 0 for v in blas.values())
    from benchmarks.bench import _trust_region_rows

    trust = _trust_region_rows(quick=True, repeats=1)
    assert [r["structure"] for r in trust] == ["dense", "tridiagonal"]
    assert all(r["value_gap"] < 1e-10 for r in trust)
    text = markdown({"machine": machine, "compile": {"cold_seconds": 1.0, "warm_seconds": 0.1},
                     "runs": [run], "blas_threads": blas, "trust_region": trust})
    assert "Trust region, forward + backward" in text
    assert "float64 n=4 B=8" in text and "tridiagonal dim=5 batch=32" in text
    assert "Why OpenBLAS runs on one thread" in text and "2 BLAS thread(s)" in text
    assert "sdp" in text and "scipy.eigh_tridiagonal" in text


def test_cli_bench_outside_a_checkout_says_where_the_benchmarks_are(monkeypatch, tmp_path, capsys):
    import sys

    import optneuron.cli.bench as cli_bench
    from optneuron.cli import main

    monkeypatch.setattr(cli_bench, "benchmarks_file", lambda: tmp_path / "bench.py")
    monkeypatch.delitem(sys.modules, "benchmarks.bench", raising=False)
    assert main(["bench", "--quick"]) == 2
    assert "repository checkout" in capsys.readouterr().err
