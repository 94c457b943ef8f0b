"""The worked hybrid (examples/bid_model.py): monotone in the bid for any parameters; it learns."""

import importlib.util
import pathlib

import pytest
import torch

_PATH = pathlib.Path(__file__).resolve().parents[1] / "examples" / "bid_model.py"


@pytest.fixture(scope="module")
def bid_model():
    spec = importlib.util.spec_from_file_location("bid_model", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_monotone_in_bid_for_arbitrary_parameters(bid_model, seed):
    torch.manual_seed(seed)
    model = bid_model.BidModel(3, dim=4, index=[None, 0, -1][seed]).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 2)
        x = torch.randn(50, 1, 3, dtype=torch.float64, generator=g).expand(50, 41, 3)
        bids = torch.linspace(-5, 5, 41, dtype=torch.float64).expand(50, 41)
        logits = model(x, bids)
    assert bool((logits[:, 1:] >= logits[:, :-1] - 1e-9 * (1 + logits.abs().max())).all())


def test_example_trains_and_beats_logistic_baseline(bid_model):
    result = bid_model.main(seed=0, n_train=2000, n_test=2000, epochs=120, verbose=False)
    assert result["worst_drop"] <= 1e-6
    assert result["model_log_loss"] < result["logistic_log_loss"] - 0.03
    assert result["model_log_loss"] < result["true_log_loss"] + 0.08
