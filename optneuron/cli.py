"""Command line: ``optneuron verify`` (eigen vs SDP sweep), ``optneuron bench`` (speed)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="optneuron", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from . import bench, sweep

    sweep.add_arguments(sub.add_parser("verify", help="eigen-vs-SDP cross-check sweep"))
    bench.add_arguments(sub.add_parser("bench", help="speed against torch, SciPy, SDP"))
    args = parser.parse_args(argv)
    if args.command == "verify":
        return sweep.run(args)
    if args.command == "bench":
        return bench.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
