"""The training step's shortcuts: Adam's multi-tensor update without its wrappers, bit for bit."""

import pytest
import torch

from optneuron.training import TrainingConfig, _AdamUpdate, _plain_adam, make_optimizer


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
                               ).double()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_adam_update_equals_optimizer_step_bit_for_bit(weight_decay):
    config = TrainingConfig(learning_rate=0.05, weight_decay=weight_decay)
    a, b = _model(0), _model(0)
    opt_a, opt_b = make_optimizer(a, config), make_optimizer(b, config)
    assert _plain_adam(opt_b)
    update = _AdamUpdate(opt_b)
    x = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for step in range(6):
        for model in (a, b):
            model.zero_grad(set_to_none=True)
            model(x).pow(2).mean().backward()
        if step == 3:  # a changed rate (a schedule) is read at every step
            opt_a.param_groups[0]["lr"] = opt_b.param_groups[0]["lr"] = 0.01
        opt_a.step()
        update()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt_a.state[p][key], opt_b.state[q][key])


def test_other_optimizers_keep_their_own_step():
    model = _model(0)
    assert not _plain_adam(torch.optim.SGD(model.parameters(), lr=0.1))
    assert not _plain_adam(torch.optim.Adam(model.parameters(), amsgrad=True, foreach=True))
    assert not _plain_adam(torch.optim.Adam(model.parameters(), fused=True))
    assert not _plain_adam(torch.optim.Adam(model.parameters()))  # single-tensor
    opt = torch.optim.Adam(model.parameters(), foreach=True)
    assert _plain_adam(opt)
    handle = opt.register_step_post_hook(lambda *args: None)
    assert not _plain_adam(opt)
    handle.remove()
