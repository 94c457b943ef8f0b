"""kernels.MachineLoad: cores kept busy by other processes, from /proc/stat and os.times()."""

import os
import sys

import pytest

from optneuron.kernels.machine_load import SAMPLE_SECONDS, MachineLoad


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _write_stat(path, user, system, idle, irq=0, steal=0):
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice (clock ticks)
    path.write_text(f"cpu  {user} 0 {system} {idle} 7 {irq} 0 {steal} 0 0\ncpu0 1 2 3 4\n")


class _Machine:
    """A ``MachineLoad`` reading a fake /proc/stat, clock and own CPU time (100 ticks/s)."""

    def __init__(self, tmp_path):
        self.stat, self.clock, self.own = tmp_path / "stat", _Clock(), 0.0
        _write_stat(self.stat, 0, 0, 0)
        self.load = MachineLoad(str(self.stat), clock=self.clock, own_cpu=lambda: self.own)
        self.load.ticks = 100.0

    def after(self, seconds, *ticks, own=None, **more_ticks):
        """``other_cores()`` after ``seconds`` more, with the stat counters now at ``ticks``
        and this process's CPU time at ``own`` (unchanged if None)."""
        self.clock.now += seconds
        _write_stat(self.stat, *ticks, **more_ticks)
        self.own = self.own if own is None else own
        return self.load.other_cores()


def test_other_cores_is_busy_time_not_ours_per_wall_second(tmp_path):
    machine = _Machine(tmp_path)
    assert machine.load.other_cores() is None  # one sample: no interval yet
    # 1.9 s busy over 2 cores in 1 s (steal excluded), of which this process used 0.7 s
    assert machine.after(1.0, 150, 30, 20, irq=10, steal=40, own=0.7) == pytest.approx(1.2)


def test_samples_at_most_every_sample_seconds(tmp_path):
    machine = _Machine(tmp_path)
    machine.load.other_cores()
    assert machine.after(1.0, 100, 0, 100) == pytest.approx(1.0)
    # the machine went quiet, but too recently to sample
    assert machine.after(SAMPLE_SECONDS / 2, 100, 0, 200) == pytest.approx(1.0)
    assert machine.after(SAMPLE_SECONDS, 100, 0, 300) == pytest.approx(0.0)


def test_own_time_above_the_busy_time_reads_zero(tmp_path):
    machine = _Machine(tmp_path)
    machine.load.other_cores()
    # rounding of the two counters: never a negative load
    assert machine.after(1.0, 50, 0, 150, own=0.6) == 0.0


def test_no_stat_file_means_no_signal(tmp_path):
    load = MachineLoad(str(tmp_path / "missing"))
    assert load.other_cores() is None


def test_unreadable_stat_turns_the_signal_off(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("intr 12 34\n")
    load = MachineLoad(str(stat))
    assert load.other_cores() is None
    assert load.available is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_reads_this_machine():
    clock = _Clock()
    load = MachineLoad(clock=clock)
    assert load.other_cores() is None
    clock.now += 2 * SAMPLE_SECONDS
    other = load.other_cores()
    assert other is not None and 0.0 <= other <= (os.cpu_count() or 1)
