import json

import numpy as np
import pytest
import torch

import optneuron
from optneuron import KyFan, Solution, SphereQP, verify
from optneuron.cli import main
from optneuron.cli.verify import random_symmetric as sweep_matrices
from optneuron.verify import subdifferential_distance

from spectra_helpers import random_symmetric, with_spectrum


def test_report_passes_and_prints_a_table():
    report = verify(SphereQP(1), random_symmetric(3, 4, 4, seed=41))
    assert report.ok, str(report)
    text = str(report)
    assert "eigen" in text and "sdp" in text and "OK" in text
    assert json.dumps(report.to_dict())


def test_repeated_eigenvalues_are_checked_by_membership():
    A = with_spectrum([[1.0, 1.0, 2.0, 3.0]], seed=42)
    report = verify(SphereQP(0), A)
    assert report.ok and report.clustered == 1


class _WrongGradient:
    """A backend whose gradient is q_{k+1} q_{k+1}ᵀ: right value, wrong subgradient."""

    name = "wrong"

    def solve(self, problem, A):
        mu, Q = torch.linalg.eigh(A.detach())
        k = problem.resolve_index(A.shape[-1])
        q = Q[..., (k + 1) % A.shape[-1]]
        X = q.unsqueeze(-1) * q.unsqueeze(-2)
        value = mu[..., k] + (A * X).sum((-2, -1)) - (A * X).sum((-2, -1)).detach()
        return Solution(value, X)


def test_a_wrong_gradient_is_caught():
    optneuron.register_backend("wrong", _WrongGradient)
    try:
        report = verify(SphereQP(1), random_symmetric(2, 4, 4, seed=43), ("eigen", "wrong"))
    finally:
        optneuron.backends._REGISTRY.pop("wrong")
    assert not report.ok
    assert any("wrong gradient error" in f for f in report.failures)
    assert "FAILED" in str(report)


def test_subdifferential_distance_exact_cases():
    mu = np.array([1.0, 1.0, 2.0])
    Q = np.eye(3)
    # Any unit vector in the bottom eigenspace is a subgradient of λ_0 and of λ_1.
    v = np.array([0.6, 0.8, 0.0])
    for lo in (0, 1):
        assert subdifferential_distance(np.outer(v, v), Q, mu, lo, lo + 1, 1e-9) < 1e-15
    # e_2 e_2ᵀ is the gradient of λ_2 only; the nearest member of ∂λ_0 = {diag(w, 0) : w in
    # the simplex} is diag(1/2, 1/2, 0), at distance √(1/4 + 1/4 + 1).
    e2 = np.outer([0, 0, 1.0], [0, 0, 1.0])
    assert subdifferential_distance(e2, Q, mu, 0, 1, 1e-9) == pytest.approx(np.sqrt(1.5))
    # For F_2 the bottom eigenspace is fully included: the projector is the only subgradient.
    P = np.diag([1.0, 1.0, 0.0])
    assert subdifferential_distance(P, Q, mu, 0, 2, 1e-9) < 1e-15


@pytest.mark.parametrize("spectrum", ["generic", "repeated", "near-repeated"])
def test_sweep_matrices_have_the_requested_spectrum(spectrum):
    A = sweep_matrices(5, 2, spectrum, torch.Generator().manual_seed(0))
    torch.testing.assert_close(A, A.mT)
    gaps = torch.diff(torch.linalg.eigvalsh(A), dim=-1).min().item()
    assert (gaps > 1e-6) if spectrum == "generic" else (gaps < 1e-8)


def test_cli_verify_json_exits_zero(capsys):
    assert main(["verify", "--sizes", "2", "3", "--batch", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and len(out["checks"]) > 10


def test_cli_verify_exits_one_on_a_mismatch(monkeypatch, capsys):
    import optneuron.cli.verify as sweep

    def failing(problem, A):
        report = verify(problem, A)
        report.failures.append("injected")
        return report

    monkeypatch.setattr(sweep, "verify", failing)
    assert main(["verify", "--sizes", "2", "--batch", "1"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_verify_accepts_tridiagonal_and_float32():
    T = optneuron.SymTridiagonal(torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[0.5, 0.5]]))
    assert verify(KyFan(2), T).ok
