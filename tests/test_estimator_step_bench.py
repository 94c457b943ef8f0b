"""benchmarks/estimator_step.py times the step's parts inside real epochs (tiny size here)."""

from benchmarks import estimator_step
from optneuron import fused, training
from optneuron.kernels import tiny


def test_reports_each_part_per_step_and_unwraps_them():
    originals = (training._Step.__call__, fused._forward, fused._backward,
                 tiny.pencil_eigenvalue_unchecked, training._AdamUpdate.__call__)
    parts = estimator_step.step_parts(rows=2_000, fits=1)
    assert set(parts) == {"step", "forward", "kernel", "backward", "adam"}
    assert all(v > 0 for v in parts.values())
    assert parts["kernel"] < parts["forward"] < parts["step"]  # nested parts
    assert (training._Step.__call__, fused._forward, fused._backward,
            tiny.pencil_eigenvalue_unchecked, training._AdamUpdate.__call__) == originals
