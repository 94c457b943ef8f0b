"""``optneuron demo``: the options of ``optneuron.demo.run_demo`` on the command line."""

from __future__ import annotations

import argparse

from ..demo import DATASETS, run_demo

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``optneuron demo`` options."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="diabetes",
                        help="bundled scikit-learn dataset (default: diabetes)")
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    parser.add_argument("--dim", type=int, default=3,
                        help="matrix size of each spectral neuron (default 3)")
    parser.add_argument("--neurons", type=int, default=4,
                        help="number of spectral neurons (default 4)")
    parser.add_argument("--penalty", type=float, default=1e-2,
                        help="weight of the spectral-norm penalty Σ‖A_i‖_op (default 1e-2)")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="Adam step size (default 3e-3)")
    parser.add_argument("--out", default="optneuron-demo.png",
                        help="where to write the PNG figure (default optneuron-demo.png)")
    parser.add_argument("--no-figure", action="store_true", help="skip the figure")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="at most 25 epochs (a smoke run)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo from parsed arguments; returns 0."""
    run_demo(dataset=args.dataset, epochs=args.epochs, dim=args.dim, neurons=args.neurons,
             out=None if args.no_figure else args.out, seed=args.seed, quick=args.quick,
             penalty=args.penalty, lr=args.lr, progress=not args.no_progress)
    return 0
