"""Every notebook is a jupytext pair (notebooks/<name>.py, percent format, is the reviewed source); the pair
must hold the same cells. `make notebooks` syncs a pair after editing either side outside JupyterLab."""
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PAIRS = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def cells(nb):
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_every_notebook_has_its_script_and_back():
    scripts = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert PAIRS and scripts == PAIRS, "run `make notebooks` (jupytext --sync) to pair them"


@pytest.mark.parametrize("name", PAIRS)
def test_pair_in_sync(name):
    ipynb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert ipynb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    assert cells(ipynb) == cells(py), f"{name}.ipynb and {name}.py differ: run `make notebooks`"


@pytest.mark.parametrize("name", PAIRS)
def test_parameters_cell_first(name):
    code = [c for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell holds the parameters"
