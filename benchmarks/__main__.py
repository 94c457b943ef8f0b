"""``python -m benchmarks``: the same run as ``optneuron bench``."""

import argparse
import sys

from optneuron.bench import add_arguments, main

parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
