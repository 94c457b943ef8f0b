"""A single tridiagonal spectral neuron learns "exactly 2 or 5 ones" over 12 bits.

No single classical neuron σ(wᵀx + b) can: the positive set {|x| = 2} ∪ {|x| = 5} is not
linearly separable (on the symmetric direction it needs two disjoint intervals of the count).
The eigenvalue of a pencil can rise and fall several times along ``Σ z_i`` (avoided crossings),
so one neuron suffices. The output head is only a scale and a threshold: ``a·f(z) + b``.

Recipe: inputs mapped to ±1, middle eigenvalue (index 4 of 9), logistic loss, full batch,
Adam lr 0.1 with cosine decay, 150 steps, float32, seed 0 for the split and the init.
"""

import itertools

import torch
import torch.nn.functional as F

from optneuron.nn import SpectralNeuron


def _data():
    X = torch.tensor(list(itertools.product([0.0, 1.0], repeat=12)))
    count = X.sum(1)
    y = ((count == 2) | (count == 5)).float()
    perm = torch.randperm(4096, generator=torch.Generator().manual_seed(0))
    return 2 * X - 1, y, perm[:2048], perm[2048:]


def test_single_tridiagonal_neuron_learns_two_or_five():
    Z, y, train, test = _data()
    torch.manual_seed(0)
    neuron = SpectralNeuron(12, 9, structure="tridiagonal")
    assert neuron.index == 4
    scale = torch.nn.Parameter(torch.tensor(1.0))
    threshold = torch.nn.Parameter(torch.tensor(0.0))
    epochs = 150
    opt = torch.optim.Adam([*neuron.parameters(), scale, threshold], lr=0.1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(scale * neuron(Z[train]) + threshold, y[train])
        loss.backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        predicted = (scale * neuron(Z[test]) + threshold > 0).float()
    accuracy = (predicted == y[test]).float().mean().item()
    assert accuracy >= 0.99, f"held-out accuracy {accuracy:.4f}"
