"""benchmarks/laguerre_start.py and benchmarks/kernel_ab.py: the parts that run without
compiling another commit's kernels."""

import numpy as np

from benchmarks import kernel_ab, laguerre_start
from optneuron.kernels import _compiled as K


def test_both_starts_converge_and_the_moments_save_passes_off_the_middle():
    mats = laguerre_start.matrix_sets()["Gaussian, n=45"]
    moments, interpolated = [], []
    for d, e in mats:
        d, e = laguerre_start._scaled(d, e)
        for k in (0, 4, 22, 40, 44):
            a = laguerre_start._passes(d, e, k, False)
            b = laguerre_start._passes(d, e, k, True)
            assert 1 <= a < K.MAXIT and 1 <= b < K.MAXIT
            if k in (4, 40):
                moments.append(a)
                interpolated.append(b)
    assert np.mean(moments) < np.mean(interpolated) - 1.0


def test_the_base_copy_imports_itself_and_the_inputs_are_the_training_batch():
    text = ('"eigen": "optneuron.backends.eigen:EigenBackend"\n'
            'code = "from optneuron.kernels.readiness import _child_main"\n'
            'from .kernels import warm_up  # optneuron.kernelsx stays\n')
    out = kernel_ab.rewrite_imports(text)
    assert '"optneuron_base.backends.eigen:EigenBackend"' in out
    assert "from optneuron_base.kernels.readiness" in out
    assert "optneuron.kernelsx" in out and "from .kernels" in out
    d, e = kernel_ab._inputs(64, 45)
    assert d.shape == (64, 45) and e.shape == (64, 44) and d.dtype == np.float32
    assert d.flags.c_contiguous and e.flags.c_contiguous
    d2, e2 = kernel_ab._inputs(8, 5)
    assert d2.shape == (8, 5) and e2.shape == (8, 4)


def test_step_ab_times_every_variant_on_every_step():
    import torch

    from benchmarks import step_ab

    Z, y = torch.randn(200, 3), torch.randn(200)
    W = torch.zeros(3, requires_grad=True)
    calls = {"a": 0, "b": 0}

    def variant(name):
        def predict(z):
            calls[name] += 1
            return z @ W
        return predict

    times = step_ab.step_times({"a": variant("a"), "b": variant("b")}, [W], Z, y, batch=32,
                               epochs=2, block=4)
    # 6 full batches per epoch in blocks of 4 and 2: every variant on each, the first step of
    # every block not kept
    assert calls == {"a": 12, "b": 12}
    assert all(t.shape == (8,) and (t > 0).all() for t in times.values())
    assert W.grad is not None and torch.count_nonzero(W.detach()) > 0  # Adam stepped


def test_step_ab_runs_a_variant_at_its_torch_thread_count():
    import torch

    from benchmarks import step_ab

    before = torch.get_num_threads()
    seen = []
    try:
        run = step_ab.at_torch_threads(1, lambda z: seen.append(torch.get_num_threads()) or z)
        assert run(3) == 3 and seen == [1]
    finally:
        torch.set_num_threads(before)
    Z1, y, W_d, W_e = step_ab._training_data()
    assert Z1.shape == (20_000, 9) and (Z1[:, -1] == 1).all() and y.shape == (20_000,)
    assert W_d.shape == (9, 45) and W_e.shape == (9, 44) and W_d.requires_grad


def test_step_ab_variants_solve_each_structure_and_floor_skips_the_solve():
    import torch

    import optneuron
    from benchmarks import step_ab

    for structure, n_params in (("tridiagonal", 2), ("dense", 1)):
        variants, params, Z1, y = step_ab._variants({"this": optneuron}, structure)
        assert list(variants) == ["this", "floor"] and len(params) == n_params
        assert Z1.shape == (20_000, 9) and y.shape == (20_000,)
        z = Z1[:5]
        value = variants["this"](z)
        if structure == "dense":
            (W,) = params
            M = (z @ W).reshape(5, 16, 16).detach().double()
            expected = torch.linalg.eigvalsh((M + M.mT) / 2)[:, 8]
        else:
            W_d, W_e = params
            T = optneuron.SymTridiagonal(z @ W_d, z @ W_e).to_dense().detach().double()
            expected = torch.linalg.eigvalsh(T)[:, 22]
        torch.testing.assert_close(value.detach().double(), expected, rtol=1e-5, atol=1e-5)
        assert variants["floor"](z).shape == (5,)


def test_step_ab_times_both_small_products_and_restores_torch_threads():
    import torch

    from benchmarks import step_ab

    before = torch.get_num_threads()
    out = step_ab.product_times(1, repeats=5)
    assert set(out) == {"z @ W us @1", "z.T @ g us @1"} and all(v > 0 for v in out.values())
    assert torch.get_num_threads() == before
