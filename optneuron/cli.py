"""Command line: ``optneuron verify``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="optneuron", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from .sweep import add_arguments, run

    add_arguments(sub.add_parser("verify", help="eigen-vs-SDP cross-check sweep"))
    args = parser.parse_args(argv)
    if args.command == "verify":
        return run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
