"""optneuron.training: the one loop, checked against a hand-written Adam loop and by its rules."""

import math

import pytest
import torch
from torch.nn import functional as F

from optneuron import SpectralNeuron
from optneuron.training import TrainingConfig, TrainingHistory, train

F64 = torch.float64


def _data(n=40, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, d, generator=g, dtype=F64)
    y = Z @ torch.tensor([1.0, -2.0, 0.5], dtype=F64) + 0.1 * torch.randn(n, generator=g,
                                                                           dtype=F64)
    return Z, y.unsqueeze(-1)


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1, dtype=F64)


def _reference_losses(model, Z, T, epochs, lr, batch, seed):
    """Plain minibatch Adam, written out: the loop that training.train must reproduce."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in range(epochs):
        order = torch.randperm(len(Z), generator=g)
        total = 0.0
        for s in range(0, len(Z), batch):
            idx = order[s:s + batch]
            loss = F.mse_loss(model(Z[idx]), T[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        curve.append(total / len(Z))
    return curve


def test_matches_a_hand_written_adam_loop_bit_for_bit():
    Z, T = _data()
    config = TrainingConfig(max_epochs=6, learning_rate=0.05, batch_size=16, patience=None)
    history = train(_linear(), F.mse_loss, Z, T, config=config,
                    generator=torch.Generator().manual_seed(3))
    expected = _reference_losses(_linear(), Z, T, 6, 0.05, 16, 3)
    assert history.train_loss == expected
    assert history.epochs == 6 and not history.converged and history.validation_loss is None
    assert history.best_loss == min(expected)
    assert history.best_epoch == 1 + expected.index(min(expected))


def test_early_stopping_counts_epochs_without_progress():
    Z, T = _data()
    # tol larger than any loss: only the first epoch counts as progress.
    config = TrainingConfig(max_epochs=50, learning_rate=0.01, tol=1e9, patience=3)
    history = train(_linear(), F.mse_loss, Z, T, config=config,
                    generator=torch.Generator().manual_seed(0))
    assert history.epochs == 4 and history.converged


def test_the_best_validation_weights_are_restored():
    Z, T = _data(60)
    val = _data(20, seed=1)
    # A large step size makes the validation loss jump around, so the last epoch is not the best.
    config = TrainingConfig(max_epochs=15, learning_rate=0.8, batch_size=8, patience=None)
    model = _linear()
    history = train(model, F.mse_loss, Z, T, config=config, validation=val,
                    generator=torch.Generator().manual_seed(0))
    assert len(history.validation_loss) == 15
    assert history.best_loss == min(history.validation_loss)
    with torch.no_grad():
        assert F.mse_loss(model(val[0]), val[1]).item() == history.best_loss
    assert not model.training


def test_penalty_shrinks_the_operator_norms():
    Z, T = _data(48)

    def fit(penalty):
        torch.manual_seed(0)
        neuron = SpectralNeuron(3, 3, index=-1, dtype=F64)
        config = TrainingConfig(max_epochs=15, learning_rate=0.05, penalty=penalty,
                                patience=None)
        train(neuron, lambda out, t: F.mse_loss(out, t[:, 0]), Z, T, config=config,
              generator=torch.Generator().manual_seed(0))
        return neuron.feature_bounds().sum().item()

    assert fit(1.0) < 0.8 * fit(0.0)


def test_a_non_finite_loss_is_named_with_its_epoch():
    Z, T = _data()
    config = TrainingConfig(max_epochs=3)
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train(_linear(), lambda out, t: (out - t).sum() * math.nan, Z, T, config=config)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(max_epochs=0), ValueError, "max_epochs"),
        (dict(learning_rate=0.0), ValueError, "learning_rate"),
        (dict(batch_size=1.5), TypeError, "batch_size"),
        (dict(penalty=-1.0), ValueError, "penalty"),
        (dict(patience=0), ValueError, "patience"),
    ],
)
def test_config_errors_name_the_field(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainingConfig(**kwargs)


def test_train_wants_a_config():
    Z, T = _data()
    with pytest.raises(TypeError, match="config"):
        train(_linear(), F.mse_loss, Z, T, config={"max_epochs": 1})
    assert isinstance(TrainingHistory(), TrainingHistory)


def test_training_leaves_torchs_threads_alone(monkeypatch):
    """torch.set_num_threads, even back to the same count, turns MKL's dynamic threading off
    for the rest of the process (torch calls mkl_set_dynamic(false)): tiny elementwise ops then
    open OpenMP regions, which collapse under load. Training must not call it."""
    from optneuron import SpectralRegressor

    def refuse(n):
        raise AssertionError(f"torch.set_num_threads({n}) called")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    Z, T = _data()
    train(_linear(), F.mse_loss, Z, T, config=TrainingConfig(max_epochs=2, batch_size=16),
          generator=torch.Generator().manual_seed(0))
    X = Z.numpy()
    model = SpectralRegressor(n_neurons=2, dim=3, max_iter=2, random_state=0)
    model.fit(X, T[:, 0].numpy()).predict(X)
