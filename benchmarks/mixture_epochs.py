"""Issue 16's epoch count: the haversine mixture against the middle eigenvalue on the 12-bit task.

    python -m benchmarks.mixture_epochs [--inputs 01|pm1] [--seeds 0 1 2] [--max-epochs 100]

The issue's protocol. Task: all 4096 inputs of 12 bits, label "exactly 3 or 6 ones"; a fixed
random half (``torch.randperm``, seed 0) for training, the other half held out. Inputs are the bits
themselves (``01``, the default) or ``±1`` (``pm1``). One tridiagonal ``9 × 9`` neuron and a
scale-and-threshold head ``a·f(z) + b`` (``a = 1``, ``b = 0`` at the start), logistic loss, Adam
at a constant learning rate 0.1 and 0.01, minibatches of 64; the seed sets the initialization
and the minibatch order. The count is the first epoch after which held-out accuracy is ≥ 0.99
(``None``: not within ``--max-epochs``). Neurons:

* ``package``: ``SpectralNeuron`` on the middle eigenvalue ``λ_4`` (its near-affine
  initialization) against ``SpectralMixture(weights="haversine")``;
* ``plain``: the issue's plain-torch neuron — diagonal and off-diagonal from two ``nn.Linear``
  maps (torch's default initialization), ``torch.linalg.eigvalsh(A) @ w`` with ``w`` the
  middle one-hot (fixed) or the haversine weights (learned).
"""

from __future__ import annotations

import argparse
import itertools

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from optneuron.nn import SpectralMixture, SpectralNeuron
from optneuron.problems import EigenvalueMixture

BITS, DIM, BATCH = 12, 9, 64
LEARNING_RATES = (0.1, 0.01)
KINDS = ("middle", "haversine")


def task(inputs: str = "01"):
    """``(Z (4096, 12), y, train, test)``: the inputs, the 3-or-6 labels and the fixed split."""
    if inputs not in ("01", "pm1"):
        raise ValueError(f"inputs must be '01' or 'pm1', got {inputs!r}")
    Z = torch.tensor(list(itertools.product([0.0, 1.0], repeat=BITS)), dtype=torch.float64)
    count = Z.sum(1)
    y = ((count == 3) | (count == 6)).double()
    perm = torch.randperm(len(Z), generator=torch.Generator().manual_seed(0))
    return (2 * Z - 1 if inputs == "pm1" else Z), y, perm[: len(Z) // 2], perm[len(Z) // 2:]


class PlainNeuron(torch.nn.Module):
    """The issue's plain-torch neuron: ``⟨w, eigvalsh(T(z))⟩`` with ``T``'s diagonal and
    off-diagonal two ``nn.Linear`` maps of ``z``."""

    def __init__(self, mixture: bool):
        super().__init__()
        self.diag = torch.nn.Linear(BITS, DIM, dtype=torch.float64)
        self.off = torch.nn.Linear(BITS, DIM - 1, dtype=torch.float64)
        middle = torch.nn.functional.one_hot(torch.tensor(DIM // 2), DIM).double()
        w = EigenvalueMixture.haversine(DIM, dtype=torch.float64) if mixture else middle
        self.weights = torch.nn.Parameter(w, requires_grad=mixture)

    def forward(self, z):
        d, e = self.diag(z), self.off(z)
        T = torch.diag_embed(d) + torch.diag_embed(e, 1) + torch.diag_embed(e, -1)
        return torch.linalg.eigvalsh(T) @ self.weights


def make(implementation: str, kind: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if implementation == "plain":
        return PlainNeuron(kind == "haversine")
    if kind == "middle":
        return SpectralNeuron(BITS, DIM, structure="tridiagonal", dtype=torch.float64)
    return SpectralMixture(BITS, DIM, "haversine", structure="tridiagonal", dtype=torch.float64)


def epochs_to_accuracy(data, implementation: str, kind: str, seed: int, lr: float,
                       max_epochs: int, target: float = 0.99) -> int | None:
    """First epoch after which held-out accuracy is ≥ ``target`` (None: not reached)."""
    Z, y, train, test = data
    net = make(implementation, kind, seed)
    a = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
    opt = torch.optim.Adam([p for p in [*net.parameters(), a, b] if p.requires_grad], lr=lr)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(1, max_epochs + 1):
        for idx in train[torch.randperm(len(train), generator=g)].split(BATCH):
            loss = bce(a * net(Z[idx]) + b, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy = ((a * net(Z[test]) + b > 0).double() == y[test]).double().mean().item()
        if accuracy >= target:
            return epoch
    return None


def run(inputs: str = "01", seeds=(0, 1, 2), max_epochs: int = 100,
        implementations=("package", "plain")) -> list[dict]:
    """Rows ``{implementation, lr, kind, epochs: [per seed]}``."""
    data = task(inputs)
    return [dict(implementation=impl, lr=lr, kind=kind,
                 epochs=[epochs_to_accuracy(data, impl, kind, s, lr, max_epochs) for s in seeds])
            for impl in implementations for lr in LEARNING_RATES for kind in KINDS]


def _show(e):
    return "—" if e is None else str(e)


def table(rows: list[dict]) -> str:
    lines = ["| neuron | lr | middle eigenvalue | haversine mixture |", "|---|---|---|---|"]
    for i in range(0, len(rows), 2):
        middle, mixture = rows[i], rows[i + 1]
        lines.append(f"| {middle['implementation']} | {middle['lr']:g} | "
                     f"{', '.join(map(_show, middle['epochs']))} | "
                     f"{', '.join(map(_show, mixture['epochs']))} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", choices=("01", "pm1"), default="01")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: extra threads only synchronize
    rows = run(args.inputs, tuple(args.seeds), args.max_epochs)
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
