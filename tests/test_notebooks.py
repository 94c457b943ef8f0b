"""Every notebook in notebooks/ runs top to bottom, headless, at small sizes.

``OPTNEURON_SMALL=1`` makes each notebook shrink its sizes; matplotlib runs on Agg. Each
notebook must also state its finding and stay small on disk.
"""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300  # per cell; a small run takes seconds, the margin is for a busy machine


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_small_and_states_a_finding(path):
    assert path.stat().st_size < 1024 * 1024, f"{path.name} is over 1 MiB: clear its outputs"
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Finding.**" in text, f"{path.name} states no finding"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, monkeypatch):
    # The kernel inherits this process's environment.
    monkeypatch.setenv("OPTNEURON_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # The kernel starts in notebooks/: put this checkout first on its path, so that it runs
    # the package under test, not whichever copy is installed.
    root = str(path.parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root,
                                                                     os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, os.linesep.join(e["ename"] + ": " + e["evalue"] for e in errors)
