"""backends.torch_threads: torch's intra-op threads follow the cores other processes leave."""

import pytest
import torch

import optneuron as on
from optneuron.backends import torch_threads as tt


class _FakeLoad:
    def __init__(self, other):
        self.other = other

    def other_cores(self):
        return self.other


@pytest.fixture
def torch_two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    on.set_num_threads(None)
    yield
    on.set_num_threads(None)
    torch.set_num_threads(before)


def test_lowers_torch_threads_under_load_and_restores_them(torch_two_threads):
    load = _FakeLoad(1.0)  # one other process busy on a 2-core machine
    policy = tt.TorchThreads(load, cpus=2)
    assert policy.threads() == 1 and torch.get_num_threads() == 1
    load.other = 0.1
    assert policy.threads() == 2 and torch.get_num_threads() == 2
    load.other = 0.4  # below half a core: not worth a thread
    assert policy.threads() == 2


def test_never_raises_torch_threads_above_their_count(torch_two_threads):
    policy = tt.TorchThreads(_FakeLoad(0.0), cpus=16)
    assert policy.threads() == 2 and torch.get_num_threads() == 2


def test_a_quiet_machine_keeps_a_count_above_its_cores(torch_two_threads):
    torch.set_num_threads(4)  # the user's choice, more threads than the (fake) cores
    load = _FakeLoad(0.0)
    policy = tt.TorchThreads(load, cpus=2)
    assert policy.threads() == 4 and torch.get_num_threads() == 4
    load.other = 1.0
    assert policy.threads() == 1
    load.other = 0.0
    assert policy.threads() == 4 and torch.get_num_threads() == 4


def test_the_users_torch_setting_ends_the_adjustment(torch_two_threads):
    load = _FakeLoad(1.0)
    policy = tt.TorchThreads(load, cpus=2)
    assert policy.threads() == 1
    torch.set_num_threads(2)  # the user's choice, after optneuron lowered it
    assert policy.threads() == 2
    load.other = 1.5
    assert policy.threads() == 2 and torch.get_num_threads() == 2 and policy.released


def test_an_explicit_kernel_thread_count_leaves_torch_alone(torch_two_threads):
    on.set_num_threads(2)
    policy = tt.TorchThreads(_FakeLoad(1.0), cpus=2)
    assert policy.threads() == 2 and torch.get_num_threads() == 2


def test_fixing_the_kernel_threads_later_restores_torch_threads(torch_two_threads):
    policy = tt.TorchThreads(_FakeLoad(1.0), cpus=2)
    assert policy.threads() == 1
    on.set_num_threads(2)
    assert policy.threads() == 2 and torch.get_num_threads() == 2
    assert policy.threads() == 2  # and stays there while the count is the user's


def test_no_signal_leaves_torch_alone(torch_two_threads):
    policy = tt.TorchThreads(_FakeLoad(None), cpus=2)
    assert policy.threads() == 2 and torch.get_num_threads() == 2


@pytest.mark.parametrize("method", ["auto", "lapack"])  # LAPACK's: a cold cache's path
def test_a_layer_call_adjusts_torch_threads(torch_two_threads, monkeypatch, method):
    load = _FakeLoad(1.0)
    monkeypatch.setattr(tt, "torch_threads", tt.TorchThreads(load, cpus=2))
    d = torch.randn(64, 45, dtype=torch.float64)
    e = torch.randn(64, 44, dtype=torch.float64)
    layer = on.OptLayer(on.SphereQP(3), method=method)
    layer(on.SymTridiagonal(d, e))
    assert torch.get_num_threads() == 1
    load.other = 0.0
    layer(torch.randn(8, 5, 5, dtype=torch.float64))
    assert torch.get_num_threads() == 2
