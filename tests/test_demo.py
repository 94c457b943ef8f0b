"""optneuron.demo: a quick run trains, compares, certifies, checks monotonicity, draws a PNG."""

import pytest
import torch

pytest.importorskip("matplotlib")

from optneuron import demo  # noqa: E402
from optneuron.cli import main  # noqa: E402
from optneuron.hybrid import HybridNet  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "figure.png"
    lines = []
    result = demo.run_demo(epochs=8, out=out, seed=1, quick=True, progress=False,
                           echo=lines.append)
    return result, out, lines


def test_quick_demo_writes_the_png(quick_run):
    result, out, _ = quick_run
    assert result.figure == out and out.exists()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_quick_demo_prints_the_metric_table_and_the_certificate(quick_run):
    result, _, lines = quick_run
    text = "\n".join(lines)
    rows = [line.split() for line in result.table.splitlines()]
    assert rows[0] == ["model", "RMSE", "MAE", "R2", "params"]
    assert [r[0] for r in rows[1:]] == ["hybrid", "linear", "MLP"]
    assert result.table.splitlines()[1] in text
    # The MLP baseline is sized to the hybrid: parameter counts within 10 %.
    params = {r[0]: int(r[-1]) for r in rows[1:]}
    assert abs(params["MLP"] - params["hybrid"]) <= 0.1 * params["hybrid"]
    for feature in ("age", "bmi", "bp", "s5"):
        assert any(line.split()[:1] == [feature] for line in lines)
    assert "monotonicity check" in text and "done in" in text


def test_certificate_holds_and_declared_features_are_monotone(quick_run):
    result, _, _ = quick_run
    for _, _, bound, slope in result.certificate:
        assert slope <= bound * (1 + 1e-9)
    for feature, per_model in result.monotone.items():
        assert per_model["hybrid"]["violations"] == 0, feature


def test_hybrid_net_is_monotone_for_random_parameters():
    torch.manual_seed(0)
    net = HybridNet(5, {1: 1, 3: -1}, n_neurons=3, dim=3)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    z = torch.randn(64, 5, dtype=torch.float64)
    for feature, sign in ((1, 1), (3, -1)):
        lo, hi = z.clone(), z.clone()
        hi[:, feature] += 0.5
        with torch.no_grad():
            assert (sign * (net(hi) - net(lo)) >= -1e-10).all()


def test_main_parses_options_and_skips_the_figure(capsys):
    assert main(["demo", "--quick", "--epochs", "3", "--no-figure", "--no-progress",
                 "--dataset", "breast_cancer", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "worst radius" in out and "figure: skipped" in out


def test_cli_runs_the_demo_subcommand(capsys):
    assert main(["demo", "--quick", "--epochs", "2", "--no-figure", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "RMSE" in out and "figure: skipped" in out


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(dataset="iris-ish"), "dataset"), (dict(epochs=0), "epochs"), (dict(dim=0), "dim"),
     (dict(penalty=-1.0), "penalty")],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        demo.run_demo(out=None, progress=False, echo=None, **kwargs)
