"""packing: parameters and gradients as views of one flat tensor, and Adam's update over it."""

import numpy as np
import pytest
import torch

from optneuron.packing import PackedGradients, flat_view, pack_parameters
from optneuron.training import TrainingConfig, _AdamUpdate, make_optimizer


def _assign(packed, params, arrays):
    """``packed``'s buffer filled with ``arrays`` (one per parameter), attached."""
    packed.buffer(params)[:] = np.concatenate([np.ravel(a) for a in arrays])
    packed.attach(params)


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
                               ).double()


def test_pack_parameters_keeps_objects_and_values():
    model = _model(0)
    before = [(p, p.detach().clone()) for p in model.parameters()]
    flat = pack_parameters(model)
    assert flat.numel() == sum(p.numel() for p, _ in before)
    for (p, value), q in zip(before, model.parameters()):
        assert p is q and torch.equal(q, value)
    assert flat_view(list(model.parameters())).data_ptr() == flat.data_ptr()
    with torch.no_grad():
        flat.zero_()  # the parameters are views of it
    assert all(not p.any() for p in model.parameters())


def test_mixed_dtypes_are_not_packed():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1).double())
    assert pack_parameters(model) is None
    assert flat_view(list(model.parameters())) is None


def test_packed_gradients_lay_out_as_the_parameters_and_are_reused():
    model = _model(0)
    params = list(model.parameters())
    packed = PackedGradients()
    arrays = [np.full(p.shape, float(i)) for i, p in enumerate(params)]
    _assign(packed, params, arrays)
    grads = [p.grad for p in params]
    for g, p, a in zip(grads, params, arrays):
        assert g.shape == p.shape and np.array_equal(g.numpy(), a)
    base = flat_view(grads)
    assert base is not None and base.numel() == sum(p.numel() for p in params)
    _assign(packed, params, [a + 1 for a in arrays])  # the next step: same tensors, new values
    for g, p, a in zip(grads, params, arrays):
        assert p.grad is g and np.array_equal(g.numpy(), a + 1)
    model.double()[0].weight.data = torch.zeros(2, 3, dtype=torch.float64)  # another shape
    params = list(model.parameters())
    _assign(packed, params, [np.ones(p.shape) for p in params])
    assert params[0].grad.shape == (2, 3) and flat_view([p.grad for p in params]) is not None


def test_flat_view_rejects_other_layouts():
    t = torch.arange(10.0)
    assert flat_view([t[:4], t[4:]]) is not None
    assert flat_view([t[4:], t[:4]]) is None  # out of order
    assert flat_view([t[:3], t[4:]]) is None  # a gap
    assert flat_view([t[:4], t[4:8]]) is None  # not all of their base
    assert flat_view([torch.zeros(3), torch.zeros(3)]) is None  # separate tensors
    assert flat_view([t[::2]]) is None  # not contiguous


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_adam_over_packed_tensors_equals_optimizer_step_bit_for_bit(weight_decay):
    config = TrainingConfig(learning_rate=0.05, weight_decay=weight_decay)
    a, b = _model(0), _model(0)
    pack_parameters(b)
    opt_a, opt_b = make_optimizer(a, config), make_optimizer(b, config)
    update = _AdamUpdate(opt_b)
    x = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    paths = []
    for step in range(8):
        for model in (a, b):
            model.zero_grad(set_to_none=True)
            model(x).pow(2).mean().backward()
        params = list(b.parameters())
        if step not in (4, 5):  # steps 4-5: autograd's separate gradients, the per-tensor path
            _assign(PackedGradients(), params, [p.grad.numpy() for p in params])
        if step == 6:  # a parameter without a gradient: the optimizer's own step
            a[0].bias.grad = b[0].bias.grad = None
        if step == 3:  # a changed rate (a schedule) is read at every step
            opt_a.param_groups[0]["lr"] = opt_b.param_groups[0]["lr"] = 0.01
        opt_a.step()
        update()
        paths.append(update.count is not None)
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q), step
            for key in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(opt_a.state[p][key], opt_b.state[q][key]), (step, key)
    assert update.flat is not None
    # flat from step 1 on while the gradients are packed; after step 6 one count lags behind
    # the others, and one count for all would be wrong: per tensor from then on
    assert paths == [False, True, True, True, False, False, False, False]


def test_a_replaced_parameter_falls_back_to_the_per_tensor_update():
    config = TrainingConfig(learning_rate=0.05)
    a, b = _model(0), _model(0)
    pack_parameters(b)
    opt_a, opt_b = make_optimizer(a, config), make_optimizer(b, config)
    update = _AdamUpdate(opt_b)
    x = torch.randn(8, 3, dtype=torch.float64)
    for step in range(4):
        if step == 2:
            b[2].weight.data = b[2].weight.data.clone()  # no longer a view of the flat tensor
        for model in (a, b):
            model.zero_grad(set_to_none=True)
            model(x).pow(2).mean().backward()
        params = list(b.parameters())
        _assign(PackedGradients(), params, [p.grad.numpy() for p in params])
        opt_a.step()
        update()
        assert (update.count is not None) == (step == 1)
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q)
