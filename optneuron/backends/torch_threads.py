"""Torch's intra-op threads on a shared machine.

Every eigen-backend solve (``EigenBackend.solve``, whichever path, LAPACK's included) and every
step of the estimators' fused network first calls ``follow_machine_load()``. Under optneuron's
automatic thread choice (no ``optneuron.set_num_threads(n)``) it lets ``TorchThreads`` adjust
torch's intra-op count to the cores left free by other processes (``kernels.MachineLoad``);
the kernels then take ``torch.get_num_threads()`` as their cap, as before:

    torch threads = min(baseline, max(1, cpus − round(other cores busy)))

while other processes keep at least half a core busy, else ``baseline``: torch's count when
optneuron first looked (torch's default or the user's setting, even one above ``cpus``). So
on a 2-core machine with one other CPU-bound process, torch runs one thread, and two again
once that process ends. Why: a descheduled OpenMP worker holds up every parallel region it
belongs to, so at torch's default two threads a batch-64 training loop without any
eigen-solve ran 4.2–6.7× slower than on the quiet machine; at one thread, 0.82–1.07×
(``benchmarks/real_machine.py``, its loaded table, three runs on 2026-12-03).

The user keeps the last word: once torch's count is not the one optneuron set last (the user
called ``torch.set_num_threads``), optneuron leaves it alone for the rest of the process; under
``optneuron.set_num_threads(n)`` it puts back a count it had lowered and changes nothing else.
Setting torch's count turns MKL's dynamic thread choice off (``torch.set_num_threads`` does
so), as any call of it would.
"""

from __future__ import annotations

import os
import threading

import torch

from ..kernels.machine_load import MachineLoad
from ..kernels.threads import automatic

__all__ = ["TorchThreads", "follow_machine_load", "torch_threads"]


class TorchThreads:
    """The policy of the module docstring, for one process. ``load`` measures the other
    processes (a ``MachineLoad``), ``cpus`` is the machine's core count."""

    def __init__(self, load: MachineLoad, cpus: int):
        self.load, self.cpus = load, max(1, cpus)
        self.baseline: int | None = None  # torch's count before optneuron changed it
        self.ours: int | None = None  # the count optneuron set last; None: torch's own
        self.released = False  # the user set torch's count: hands off
        self.lock = threading.Lock()

    def threads(self) -> int:
        """Torch's intra-op thread count after this call's adjustment."""
        current = torch.get_num_threads()
        if self.released:
            return current
        auto = automatic()
        if self.ours is None and not auto:
            return current
        with self.lock:
            if self.ours is not None and current != self.ours:
                self.released = True  # someone else set it since
                return current
            if self.ours is None:
                self.baseline = current
            if auto:
                other = self.load.other_cores()
                if other is None:
                    return current
                busy = int(other + 0.5)  # a quiet machine keeps the baseline, even above cpus
                target = min(self.baseline, max(1, self.cpus - busy)) if busy else self.baseline
            else:  # the user fixed the kernels' threads since: torch's count goes back
                target = self.baseline
            if target != current:
                torch.set_num_threads(target)
                self.ours = None if target == self.baseline else target
            return target


torch_threads = TorchThreads(MachineLoad(), os.cpu_count() or 1)


def follow_machine_load() -> int:
    """Torch's intra-op thread count after ``torch_threads`` adjusted it to the machine's load
    (the module docstring); once per solve or training step."""
    return torch_threads.threads()
