"""Every notebook in ``notebooks/`` runs top to bottom (code cells exec'd in one namespace).

No Jupyter kernel is needed: the code cells are compiled and executed in order in a fresh
namespace with the Agg backend and ``PARETOJAX_FAST=1`` (each notebook's fast flag), so a failing cell fails the test with its traceback. The
notebooks are also checked to be stored without outputs. Marked ``notebook``: ``.ci/run`` runs
them as a step of their own (``pytest -m notebook``), outside the default test run.
"""

from __future__ import annotations

import json
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "finite_sets.ipynb"} <= names


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PARETOJAX_FAST", "1")  # notebooks read it to shorten their runs
    monkeypatch.chdir(tmp_path)
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells, f"{path.name} has no code cells"
    for c in cells:
        assert not c.get("outputs") and c.get("execution_count") is None, (
            f"{path.name}: store notebooks without outputs"
        )
    namespace: dict = {"__name__": "__main__"}
    for i, c in enumerate(cells):
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        exec(compile(src, f"{path.name}[cell {i}]", "exec"), namespace)  # noqa: S102
