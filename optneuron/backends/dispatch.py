"""Which function solves which problem, per backend: a table keyed by problem class.

Each backend module owns one ``SolverTable`` and marks its solves with the table's
``solves`` decorator::

    @EIGEN.solves(TrustRegion)
    def solve_trust_region(backend, problem, A, b) -> Solution: ...

``lookup`` walks the problem's class hierarchy (a subclass inherits its parent's solve), so
adding a problem is one class in ``optneuron.problems`` plus one decorated function per
backend, and nothing else in the tree changes (docs/problems.md).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SolverTable", "EIGEN", "SDP"]


class SolverTable:
    """Problem class → solve function ``(backend, problem, *data) -> Solution``."""

    def __init__(self, backend: str):
        self.backend = backend
        self._solvers: dict[type, Callable] = {}

    def solves(self, *problem_classes: type) -> Callable[[Callable], Callable]:
        """Decorator registering the function as this backend's solve for the classes."""
        if not problem_classes or not all(isinstance(c, type) for c in problem_classes):
            raise TypeError(f"solves() takes problem classes, got {problem_classes!r}")

        def register(function: Callable) -> Callable:
            for cls in problem_classes:
                self._solvers[cls] = function
            return function

        return register

    def lookup(self, problem) -> Callable:
        """The solve for ``problem``'s class (or its nearest registered base class)."""
        for cls in type(problem).__mro__:
            if cls in self._solvers:
                return self._solvers[cls]
        known = ", ".join(sorted(c.__name__ for c in self._solvers))
        raise TypeError(
            f"the {self.backend} backend has no solve for problem {type(problem).__name__} "
            f"(it solves: {known})"
        )

    def problems(self) -> tuple[type, ...]:
        """The registered problem classes."""
        return tuple(self._solvers)


EIGEN = SolverTable("eigen")
SDP = SolverTable("sdp")
