"""``optneuron bench``: runs the repository's ``benchmarks/bench.py``.

The benchmarks are an application of the library, not part of the installed package: they
exist only in a checkout (``pip install -e ".[dev]"``), next to the results they write
(benchmarks/RESULTS.md). From an installed wheel this command says so and exits with 2.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "benchmarks_file", "load_benchmarks"]

_MODULE = "benchmarks.bench"


def benchmarks_file() -> Path:
    """Where a checkout keeps the benchmarks: ``<repository>/benchmarks/bench.py``."""
    return Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def load_benchmarks():
    """The ``benchmarks.bench`` module of this checkout; ``FileNotFoundError`` outside one."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    path = benchmarks_file()
    if not path.is_file():
        raise FileNotFoundError(
            f"optneuron bench runs benchmarks/bench.py of a repository checkout, and there is "
            f"none at {path}; clone the repository and pip install -e '.[dev]' there"
        )
    spec = importlib.util.spec_from_file_location(_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_MODULE]
        raise
    return module


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="a few cases, about a minute")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts to compare (default 1 2)")
    parser.add_argument("--out", default="benchmarks",
                        help="folder for the results (markdown, JSON, PNG)")


def run(args) -> int:
    """Run the benchmarks with ``args``; 2 (and a message on stderr) outside a checkout."""
    try:
        bench = load_benchmarks()
    except FileNotFoundError as err:
        print(f"optneuron bench: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"optneuron bench: {err}; the benchmarks need the dev extra: "
              "pip install -e '.[dev]'", file=sys.stderr)
        return 2
    return bench.main(args)
