"""Backends found by name: ``get_backend("eigen")``, ``get_backend("sdp", solver_args=...)``.

A backend is any object with ``name`` and ``solve(problem, *data) -> Solution``, where the
data is validated by ``problem.validate`` (``A`` a symmetrized dense tensor or a
``SymTridiagonal``; ``b``/``B`` broadcast to its batch). The built-in backends find the solve
for each problem class in their ``dispatch.SolverTable`` (docs/problems.md). A backend
whose class sets ``checks_finite = True`` gets ``A`` unchecked for nan/inf and raises
``matrices.require_finite``'s ``ValueError`` itself. Entries are
``"module:Class"`` strings so that heavy dependencies (cvxpy) load only when used;
``register_backend`` adds a third one without editing this file.
"""

from __future__ import annotations

import importlib

__all__ = ["register_backend", "get_backend", "available_backends"]

_REGISTRY: dict[str, object] = {
    "eigen": "optneuron.backends.eigen:EigenBackend",
    "sdp": "optneuron.backends.sdp:SDPBackend",
}


def register_backend(name: str, factory) -> None:
    """Register ``factory`` (a class, a callable, or a ``"module:Class"`` string) as ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = factory


def available_backends() -> tuple[str, ...]:
    """Names of the registered backends."""
    return tuple(_REGISTRY)


def get_backend(name: str, **options):
    """Instantiate the backend registered as ``name`` with ``options``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(_REGISTRY)}")
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**options)
