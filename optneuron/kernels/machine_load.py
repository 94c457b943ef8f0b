"""How many cores other processes keep busy: the signal for sharing the machine.

    other = (Δ busy time of all cores − Δ CPU time of this process) / Δ wall time

over the interval since the previous sample, in cores. The busy time comes from the first line
of ``/proc/stat`` (Linux; clock ticks of user, nice, system, irq and softirq time; steal and
idle do not count), this process's CPU time from ``os.times()`` (all its threads, including
torch's and the kernels' pools). Elsewhere, or where ``/proc/stat`` cannot be read, there is no
signal (``None``) and nothing that uses it changes its choice.

Why it is needed: a descheduled worker of a thread pool holds up the whole parallel region it
belongs to. On a 2-core machine with one other CPU-bound process, torch's default two
intra-op threads made a batch-64 training loop without any eigen-solve 4.2–6.7× slower than on
a quiet machine, and 0.82–1.07× with one thread (three runs of ``benchmarks/real_machine.py``,
its loaded table, 2026-12-03). The pools cannot tell by themselves: a small training step has
too little parallel work to time.
"""

from __future__ import annotations

import os
import time

__all__ = ["MachineLoad"]

#: seconds between two samples at least: /proc/stat counts in ticks of 1/100 s (±0.08 of a core
#: over this interval on 2 cores); reading it costs ~20 µs
SAMPLE_SECONDS = 0.25


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


class MachineLoad:
    """Samples of the cores other processes keep busy (module docstring).

    ``other_cores()`` returns the latest estimate, taking a new sample when ``SAMPLE_SECONDS``
    have passed since the last one; ``None`` until two samples exist or where there is no
    signal. ``stat_path`` and ``clock`` exist for tests.
    """

    def __init__(self, stat_path: str = "/proc/stat", clock=time.monotonic, own_cpu=None):
        self.stat_path = stat_path
        self.clock = clock
        self.own_cpu = own_cpu or _own_cpu_seconds
        self.ticks = _ticks_per_second()
        self.available = os.path.exists(stat_path)
        self.last: tuple[float, float, float] | None = None  # (wall, busy, own) seconds
        self.estimate: float | None = None

    def other_cores(self) -> float | None:
        """Cores kept busy by other processes over the latest interval (``None``: no signal)."""
        if not self.available:
            return None
        now = self.clock()
        if self.last is not None and now - self.last[0] < SAMPLE_SECONDS:
            return self.estimate
        busy = self._busy_seconds()
        if busy is None:
            self.available = False
            return None
        own = self.own_cpu()
        if self.last is not None:
            wall0, busy0, own0 = self.last
            self.estimate = max(0.0, (busy - busy0) - (own - own0)) / (now - wall0)
        self.last = (now, busy, own)
        return self.estimate

    def _busy_seconds(self) -> float | None:
        try:
            with open(self.stat_path, "rb") as f:
                fields = f.readline().split()
        except OSError:
            return None
        if len(fields) < 8 or fields[0] != b"cpu":
            return None
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
        return (user + nice + system + irq + softirq) / self.ticks


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
