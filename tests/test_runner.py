"""The papermill runner on small fixture notebooks: injection, skipping unchanged
notebooks, failure reporting, kernel retries, golden outputs, determinism, scaffolding."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scalinglab.repro import runner
from scalinglab.repro.checks import check_notebook

pytestmark = pytest.mark.notebook


@pytest.fixture
def project(tmp_path, fixture_notebooks, monkeypatch):
    """A throwaway project root holding the two fixture notebooks."""
    shutil.copytree(fixture_notebooks, tmp_path / "notebooks")
    (tmp_path / "data").mkdir()
    (tmp_path / "requirements.txt").write_text("numpy==1\n")
    monkeypatch.setenv("SCALINGLAB_ROOT", str(tmp_path))
    return tmp_path


def injected_parameters(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    return "".join(cells[0]["source"])


def test_reproduce_runs_reports_skips_and_reruns(project):
    # A failing notebook makes the command exit non-zero with a short message, and the
    # other notebook still completes.
    cli = subprocess.run([sys.executable, "-m", "scalinglab.cli", "reproduce", "--profile", "ci",
                          "--jobs", "2", "--no-progress"], capture_output=True, text=True,
                         env={**os.environ, "SCALINGLAB_ROOT": str(project)}, timeout=300)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "FAILED fixture2020_broken" in cli.stdout
    assert "ValueError: the fixture fails on purpose" in cli.stdout
    assert "cell 4: raise ValueError" in cli.stdout
    assert "Traceback" not in cli.stdout
    out = project / "build" / "notebooks" / "ci"
    injected = injected_parameters(out / "fixture2020_good.ipynb")
    assert 'profile = "ci"' in injected and 'out_dir = "build/ci"' in injected
    assert 'device = "auto"' in injected
    claims = json.loads((project / "build" / "ci" / "claims" / "fixture2020_good.json").read_text())
    assert claims["counts"] == {"total": 2, "judged": 1, "reproduced": 1, "indicative": 1}
    meta = json.loads((out / "fixture2020_good.ipynb").read_text())["metadata"]["scalinglab"]
    assert {"git", "packages", "python", "device_name", "threads", "seed"} <= set(meta["provenance"])
    assert meta["wall_time_s"] > 0
    card = json.loads((project / "build" / "scorecard.json").read_text())
    by_paper = {p["paper"]: p for p in card["papers"]}
    assert by_paper["fixture2020_good"]["claims_reproduced"] == 1
    assert by_paper["fixture2020_broken"]["status"] == "failed"
    assert card["totals"]["failed"] == 1
    assert (project / "build" / "scorecard.md").exists()
    assert json.loads((project / "build" / "ci" / "scorecard.json").read_text()) == card

    # Unchanged inputs: skipped. The failed notebook is tried again.
    outcomes = {o.paper: o for o in runner.reproduce(profile="ci", progress=False)}
    assert outcomes["fixture2020_good"].status == "cached"
    assert outcomes["fixture2020_good"].counts["reproduced"] == 1
    assert outcomes["fixture2020_broken"].status == "failed"

    # Touching one notebook's source reruns only that one.
    path = project / "notebooks" / "fixture2020_good.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "A new remark."})
    path.write_text(json.dumps(nb))
    outcomes = {o.paper: o for o in runner.reproduce(papers=["fixture2020_good"], profile="ci",
                                                     progress=False)}
    assert outcomes["fixture2020_good"].status == "ok"
    # FORCE reruns an unchanged notebook
    outcomes = runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    assert outcomes[0].status == "cached"


def test_unknown_paper_and_profile_are_clear_errors(project):
    with pytest.raises(runner.ParameterError, match="unknown paper"):
        runner.reproduce(papers=["nobody2020_x"], profile="ci")
    with pytest.raises(runner.ParameterError, match="profile='huge'"):
        runner.reproduce(profile="huge")


def test_a_kernel_that_died_before_the_first_cell_is_retried(tmp_path):
    calls = []

    def flaky(input_path, output_path, parameters, cwd, env):
        calls.append(1)
        if len(calls) == 1:  # the port race: nothing was written, nothing ran
            raise RuntimeError("Kernel died before replying to kernel_info")
        output_path.write_text("{}")

    ok, attempts, failure = runner.run_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb",
                                                None, tmp_path, {}, execute=flaky)
    assert ok and attempts == 2 and failure == {}


def test_a_kernel_that_died_mid_notebook_is_not_retried(tmp_path):
    def dies(input_path, output_path, parameters, cwd, env):
        output_path.write_text(json.dumps({"cells": [
            {"cell_type": "code", "execution_count": 1, "source": "x", "outputs": []}]}))
        raise RuntimeError("DeadKernelError: Kernel died")

    ok, attempts, failure = runner.run_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb",
                                                None, tmp_path, {}, execute=dies)
    assert not ok and attempts == 1 and "Kernel died" in failure["error"]


def test_golden_stores_outputs_without_timing_metadata(project):
    assert runner.golden(["fixture2020_good"]) == 0
    path = project / "notebooks" / "fixture2020_good.ipynb"
    nb = json.loads(path.read_text())
    assert "papermill" not in nb["metadata"]
    assert all("papermill" not in c["metadata"] for c in nb["cells"])
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("ci build/lab" in "".join(o.get("text", "")) for o in outputs)
    assert check_notebook(path) == []
    # A failing notebook is left as it was.
    broken = project / "notebooks" / "fixture2020_broken.ipynb"
    before = broken.read_bytes()
    assert runner.golden(["fixture2020_broken"]) == 1
    assert broken.read_bytes() == before


def test_claims_files_are_byte_identical_across_executions(project):
    runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    claims = project / "build" / "ci" / "claims" / "fixture2020_good.json"
    first = claims.read_bytes()
    claims.unlink()
    runner.reproduce(papers=["fixture2020_good"], profile="ci", force=True, progress=False)
    assert claims.read_bytes() == first


def test_scaffolded_notebook_passes_the_checks(project):
    from scalinglab.repro.scaffold import new_paper
    (project / "data" / "papers.yaml").write_text("papers:\n")
    path = new_paper("smith2024_widgets", title="Scaling Laws for Widgets", root=project)
    assert check_notebook(path) == []
    import yaml
    papers = yaml.safe_load((project / "data" / "papers.yaml").read_text())["papers"]
    assert papers[-1]["notebook"] == "smith2024_widgets.ipynb"
    with pytest.raises(runner.ParameterError, match="exists already"):
        new_paper("smith2024_widgets", title="again", root=project)
