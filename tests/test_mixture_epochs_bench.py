"""benchmarks/mixture_epochs.py runs, states its task correctly, and refuses bad input."""

import pytest
import torch

from benchmarks import mixture_epochs as bench


def test_task_is_three_or_six_ones_with_a_fixed_half_split():
    Z, y, train, test = bench.task("01")
    assert Z.shape == (4096, 12) and len(train) == len(test) == 2048
    assert sorted(torch.cat([train, test]).tolist()) == list(range(4096))
    ones = Z.sum(1)
    assert torch.equal(y.bool(), (ones == 3) | (ones == 6))
    assert int(y.sum()) == 220 + 924  # C(12, 3) + C(12, 6)
    Zpm, _, train2, _ = bench.task("pm1")
    assert torch.equal(Zpm, 2 * Z - 1) and torch.equal(train, train2)
    with pytest.raises(ValueError, match="inputs"):
        bench.task("bits")


def test_plain_neuron_is_the_middle_eigenvalue_or_the_haversine_mixture():
    z = torch.randn(5, 12, dtype=torch.float64)
    for mixture in (False, True):
        net = bench.PlainNeuron(mixture)
        d, e = net.diag(z), net.off(z)
        T = torch.diag_embed(d) + torch.diag_embed(e, 1) + torch.diag_embed(e, -1)
        lam = torch.linalg.eigvalsh(T)
        expected = lam @ net.weights if mixture else lam[:, 4]
        torch.testing.assert_close(net(z), expected)
        assert net.weights.requires_grad == mixture


def test_runs_and_counts_epochs():
    rows = bench.run("01", seeds=(0,), max_epochs=2, implementations=("package",))
    assert [(r["lr"], r["kind"]) for r in rows] == [(0.1, "middle"), (0.1, "haversine"),
                                                   (0.01, "middle"), (0.01, "haversine")]
    assert all(e is None or 1 <= e <= 2 for r in rows for e in r["epochs"])
    assert "haversine mixture" in bench.table(rows)
