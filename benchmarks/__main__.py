"""``python -m benchmarks`` (from the repository root): the same run as ``optneuron bench``."""

import argparse
import sys

from benchmarks.bench import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
