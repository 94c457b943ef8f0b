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


def _load(tmp_path, own):
    stat = tmp_path / "stat"
    _write_stat(stat, 0, 0, 0)
    clock = _Clock()
    load = MachineLoad(str(stat), clock=clock, own_cpu=lambda: own[0])
    load.ticks = 100.0
    return load, stat, clock


def test_other_cores_is_busy_time_not_ours_per_wall_second(tmp_path):
    own = [0.0]
    load, stat, clock = _load(tmp_path, own)
    assert load.other_cores() is None  # one sample: no interval yet
    clock.now += 1.0
    _write_stat(stat, 150, 30, 20, irq=10)  # 1.9 s busy over 2 cores in 1 s (steal excluded)
    own[0] = 0.7  # of which this process used 0.7 s
    assert load.other_cores() == pytest.approx(1.2)


def test_samples_at_most_every_sample_seconds(tmp_path):
    own = [0.0]
    load, stat, clock = _load(tmp_path, own)
    load.other_cores()
    clock.now += 1.0
    _write_stat(stat, 100, 0, 100)
    assert load.other_cores() == pytest.approx(1.0)
    clock.now += SAMPLE_SECONDS / 2
    _write_stat(stat, 100, 0, 200)  # the machine went quiet, but too recently to sample
    assert load.other_cores() == pytest.approx(1.0)
    clock.now += SAMPLE_SECONDS
    _write_stat(stat, 100, 0, 300)
    assert load.other_cores() == pytest.approx(0.0)


def test_own_time_above_the_busy_time_reads_zero(tmp_path):
    own = [0.0]
    load, stat, clock = _load(tmp_path, own)
    load.other_cores()
    clock.now += 1.0
    _write_stat(stat, 50, 0, 150)
    own[0] = 0.6  # rounding of the two counters: never a negative load
    assert load.other_cores() == 0.0


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
def test_reads_this_machine(monkeypatch):
    clock = _Clock()
    load = MachineLoad(clock=clock)
    assert load.other_cores() is None
    clock.now += 2 * SAMPLE_SECONDS
    other = load.other_cores()
    assert other is not None and 0.0 <= other <= (os.cpu_count() or 1) * 1e6
