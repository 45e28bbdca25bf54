"""Every paper notebook has the anatomy the suite relies on (DESIGN.md)."""
from pathlib import Path

import pytest

from scalinglab.repro.checks import check_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no paper notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_anatomy(path):
    assert check_notebook(path) == []


def test_the_checks_catch_a_bare_notebook(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "conda-env-x", "display_name": "x"}
    path = tmp_path / "Untitled.ipynb"
    nbformat.write(nb, str(path))
    problems = " | ".join(check_notebook(path))
    for expected in ("H1 title", "tagged 'parameters'", "kernelspec", "no stored outputs", "file name"):
        assert expected in problems


def test_the_checks_catch_machine_paths(fixture_notebooks, tmp_path):
    import json
    nb = json.loads((fixture_notebooks / "fixture2020_good.ipynb").read_text())
    nb["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "/root/x\n"}]
    nb["cells"][-1]["execution_count"] = 1
    path = tmp_path / "fixture2020_good.ipynb"
    path.write_text(json.dumps(nb))
    assert any("path of the machine" in p for p in check_notebook(path))
