"""Command line: ``optneuron verify`` (eigen vs SDP sweep), ``optneuron bench`` (speed),
``optneuron demo`` (a hybrid network trained, certified and compared on bundled data).

Each command is a module of this package with ``add_arguments(parser)`` and ``run(args) -> int``;
the library functions they call live in the package proper (``verify``, ``demo``) or, for the
benchmarks, in the repository's ``benchmarks/``.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, demo, verify

__all__ = ["main"]

COMMANDS = {
    "verify": (verify, "eigen-vs-SDP cross-check sweep"),
    "bench": (bench, "speed against torch, SciPy, SDP (from a checkout of the repository)"),
    "demo": (demo, "train, certify and compare a monotone hybrid network"),
}


def main(argv=None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen command, return its exit code."""
    parser = argparse.ArgumentParser(prog="optneuron", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    module, _ = COMMANDS[args.command]
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
