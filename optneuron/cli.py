"""Command line: ``optneuron verify`` (eigen vs SDP sweep), ``optneuron bench`` (speed),
``optneuron demo`` (a hybrid network trained, certified and compared on bundled data)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="optneuron", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from . import bench, demo, sweep

    commands = {
        "verify": (sweep, sweep.run, "eigen-vs-SDP cross-check sweep"),
        "bench": (bench, bench.main, "speed against torch, SciPy, SDP"),
        "demo": (demo, demo.main, "train, certify and compare a monotone hybrid network"),
    }
    for name, (module, _, help_text) in commands.items():
        module.add_arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    _, run, _ = commands[args.command]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
