"""The papermill runner on small fixture notebooks: injection, skipping unchanged
notebooks, failure reporting, kernel retries, golden outputs, determinism, scaffolding;
and, with papermill stood in for, the checks made before any kernel starts, publishing
only on success, and the skip key over the registry's data files."""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scalinglab.base import profiles
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
    # the line that raised (line 5 of the cell), not the cell's first line
    assert "cell 4, line 5: raise ValueError('the fixture fails on purpose')" in cli.stdout
    assert "Traceback" not in cli.stdout
    out = project / "build" / "notebooks" / "ci"
    injected = injected_parameters(out / "fixture2020_good.ipynb")
    # out_dir is the run's scratch folder, relative to the root; published on success
    assert 'profile = "ci"' in injected and 'out_dir = "build/.staging/ci/fixture2020_good"' in injected
    assert 'device = "auto"' in injected
    claims = json.loads((project / "build" / "ci" / "claims" / "fixture2020_good.json").read_text())
    assert claims["counts"] == {"total": 2, "judged": 1, "reproduced": 1, "indicative": 1,
                                "indicative_would_pass": 1, "untestable": 0, "checks": 0, "checks_hold": 0}
    # the broken notebook wrote claims before it failed: none of them is published, and
    # its executed notebook is kept apart for debugging
    assert not (project / "build" / "ci" / "claims" / "fixture2020_broken.json").exists()
    assert not (out / "fixture2020_broken.ipynb").exists()
    assert (out / "failed" / "fixture2020_broken.ipynb").exists()
    assert not (project / "build" / ".staging").exists()
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


# -- papermill stood in for: fast tests of what the runner does around a kernel ------

TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mValueError\x1b[39m                                Traceback (most recent call last)",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[3]\x1b[39m\x1b[32m, line 3\x1b[39m\n"
    "\x1b[32m      1\x1b[39m values = [\x1b[32m1\x1b[39m]\n\x1b[32m----> 3\x1b[39m check(values)",
    "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[2]\x1b[39m\x1b[32m, line 2\x1b[39m, in check(v)\n"
    "\x1b[32m----> 2\x1b[39m \x1b[38;5;28;01mraise\x1b[39;00m \x1b[38;5;167;01mValueError\x1b[39;00m(\x1b[33m'boom'\x1b[39m)",
    "\x1b[31mValueError\x1b[39m: boom",
]
FAILING_SOURCE = "# compute\nvalues = [1]\ncheck(values)\nprint('done')"


class FakePapermill:
    """Stands in for papermill.execute_notebook: writes the executed notebook, and, as
    run.finish() would, claims, a run sidecar and a figure under the injected out_dir;
    then fails when told to (after writing them, as a notebook failing late does), or
    reads a registry file first when told to. Every call is counted."""

    def __init__(self):
        self.counts = {"total": 4, "judged": 4, "reproduced": 3, "indicative": 0}
        self.fail: set[str] = set()
        self.reads: str | None = None
        self.calls: list[str] = []

    def __call__(self, input_path, output_path, parameters, cwd, env):
        from papermill.exceptions import PapermillExecutionError
        paper = Path(input_path).stem
        self.calls.append(paper)
        nb = json.loads(Path(input_path).read_text())
        nb["cells"].insert(2, {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                               "source": json.dumps(parameters), "outputs": [], "execution_count": 1})
        Path(output_path).write_text(json.dumps(nb))
        out = Path(env["SCALINGLAB_ROOT"]) / parameters["out_dir"]
        (out / "claims").mkdir(parents=True, exist_ok=True)
        (out / "claims" / f"{paper}.json").write_text(json.dumps(
            {"paper": paper, "title": "Fixture", "counts": self.counts}))
        (out / "claims" / f"{paper}.run.json").write_text(json.dumps({"paper": paper, "device": "cpu"}))
        (out / "figures" / paper).mkdir(parents=True, exist_ok=True)
        (out / "figures" / paper / "plot.svg").write_text(f"<svg>{self.counts}</svg>")
        if self.reads:
            from scalinglab.data import published
            try:
                published.fetch(self.reads)
            except published.PublishedDataError as exc:
                raise PapermillExecutionError(3, 3, "published.fetch(name)", "PublishedDataError",
                                              str(exc), ["Cell In[3], line 1"]) from None
        if paper in self.fail:
            raise PapermillExecutionError(4, 3, FAILING_SOURCE, "ValueError", "boom", TRACEBACK)


@pytest.fixture
def fake(project, monkeypatch):
    """Notebooks run by FakePapermill in threads of this process (no kernels)."""
    stand_in = FakePapermill()
    monkeypatch.setattr(runner, "_execute", stand_in)
    monkeypatch.setattr(runner.cf, "ProcessPoolExecutor", cf.ThreadPoolExecutor)
    return stand_in


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def published_result(project: Path, paper: str = "fixture2020_good") -> dict[str, bytes]:
    """The files that make up a paper's published result at the ci profile."""
    build = project / "build"
    files = [build / "notebooks" / "ci" / f"{paper}.ipynb",
             build / "notebooks" / "ci" / f".{paper}.stamp.json",
             build / "ci" / "claims" / f"{paper}.json", build / "ci" / "claims" / f"{paper}.run.json",
             build / "ci" / "figures" / paper / "plot.svg"]
    assert all(f.exists() for f in files), [str(f) for f in files if not f.exists()]
    return {str(f.relative_to(project)): f.read_bytes() for f in files}


def test_failing_line_is_read_from_the_ipython_traceback():
    assert runner.failing_line(TRACEBACK, FAILING_SOURCE, exec_count=3) == (3, "check(values)")
    # without the execution count, the outermost cell frame
    assert runner.failing_line(TRACEBACK, FAILING_SOURCE) == (3, "check(values)")
    assert runner.failing_line(["ValueError: boom"], FAILING_SOURCE) is None
    assert runner.failing_line(["Cell In[3], line 9"], FAILING_SOURCE) is None


def test_device_cuda_without_gpu_fails_before_any_kernel_and_touches_nothing(fake, project, monkeypatch,
                                                                            capsys):
    runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    before = snapshot(project / "build")
    good = published_result(project)
    fake.calls.clear()
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    with pytest.raises(runner.ParameterError, match="device='cuda' was asked for but no CUDA device"):
        runner.reproduce(profile="ci", device="cuda", force=True, progress=False)
    from scalinglab.cli import main
    monkeypatch.setenv("DEVICE", "cuda")
    monkeypatch.setenv("FORCE", "1")
    assert main(["reproduce", "--profile", "ci", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == "scalinglab: device='cuda' was asked for but no CUDA device is available\n"
    assert fake.calls == []
    assert snapshot(project / "build") == before and published_result(project) == good
    # with a cluster executor the GPUs are on the nodes, not here: not refused
    runner.check_device("cuda", executor="slurm")


def test_a_failed_run_keeps_the_last_good_result_and_shows_no_stale_counts(fake, project):
    first = runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    assert first[0].status == "ok" and first[0].counts["reproduced"] == 3
    good = published_result(project)
    date = first[0].date

    fake.fail.add("fixture2020_good")
    fake.counts = {"total": 4, "judged": 4, "reproduced": 0, "indicative": 0}
    out = __import__("io").StringIO()
    [o] = runner.reproduce(papers=["fixture2020_good"], profile="ci", force=True,
                           progress=False, stream=out)
    report = out.getvalue()
    assert o.status == "failed" and o.counts == {} and o.claims_file == ""
    assert o.last_good["date"] == date and o.last_good["counts"]["reproduced"] == 3
    assert (o.failing_cell, o.failing_line, o.failing_source) == (4, 3, "check(values)")
    assert "cell 4, line 3: check(values)" in report and "ValueError: boom" in report
    assert "executed notebook: build/notebooks/ci/failed/fixture2020_good.ipynb" in report
    assert "last good result kept: build/notebooks/ci/fixture2020_good.ipynb" in report
    row = next(line for line in report.splitlines() if line.startswith("fixture2020_good "))
    assert f"failed (last good result from {date} kept)" in row
    assert "3/4" not in row and "0/4" not in row
    # the good result is untouched; the failed notebook is kept apart
    assert published_result(project) == good
    failed_nb = project / "build" / "notebooks" / "ci" / "failed" / "fixture2020_good.ipynb"
    assert json.loads(failed_nb.read_text())["metadata"]["scalinglab"]["paper"] == "fixture2020_good"
    assert not (project / "build" / ".staging").exists()

    card = json.loads((project / "build" / "scorecard.json").read_text())
    [entry] = [p for p in card["papers"] if p["paper"] == "fixture2020_good"]
    assert entry["status"] == "failed" and entry["claims_judged"] == 0 and entry["claims_reproduced"] == 0
    assert entry["last_good"]["claims_reproduced"] == 3 and entry["last_good"]["date"] == date
    assert entry["last_good"]["notebook"] == "build/notebooks/ci/fixture2020_good.ipynb"
    assert card["totals"]["claims_judged"] == 0 and card["totals"]["failed"] == 1
    assert card["totals"]["last_good"] == 1 and card["totals"]["last_good_claims_reproduced"] == 3
    md = (project / "build" / "scorecard.md").read_text()
    assert "0/0 judged claims reproduced across 1 papers" in md
    assert "last good results kept for 1 failed notebook, 3/4 judged claims" in md
    assert f"| fixture2020_good | — | — | failed (last good result from {date} kept): 3/4 then |" in md

    # running another notebook alone: the failure is still shown in the scorecard
    runner.reproduce(papers=["fixture2020_broken"], profile="ci", progress=False)
    card = json.loads((project / "build" / "scorecard.json").read_text())
    entry = {p["paper"]: p for p in card["papers"]}["fixture2020_good"]
    assert entry["status"] == "failed" and entry["last_good"]["claims_reproduced"] == 3

    # the next good run replaces the result and forgets the failure
    fake.fail.clear()
    [o] = runner.reproduce(papers=["fixture2020_good"], profile="ci", force=True, progress=False)
    assert o.status == "ok" and o.counts["reproduced"] == 0 and o.last_good == {}
    assert not failed_nb.exists()
    assert published_result(project) != good


def test_a_run_without_figures_drops_the_old_ones(fake, project, monkeypatch):
    runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    figure = project / "build" / "ci" / "figures" / "fixture2020_good" / "plot.svg"
    assert figure.exists()
    original = fake.__call__

    def without_figures(*args):
        original(*args)
        shutil.rmtree(Path(args[4]["SCALINGLAB_ROOT"]) / args[2]["out_dir"] / "figures")
    monkeypatch.setattr(runner, "_execute", without_figures)
    runner.reproduce(papers=["fixture2020_good"], profile="ci", force=True, progress=False)
    assert not figure.exists()


def _toy_registry(project: Path, mirror: Path, payload: bytes) -> Path:
    commit = "a" * 40
    entry = {"name": "toy", "url": f"https://raw.githubusercontent.com/o/r/{commit}/t.csv",
             "repo": "o/r", "commit": commit, "path": "t.csv",
             "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
             "licence": "MIT", "description": "toy"}
    (project / "data" / "remote.yaml").write_text(yaml.safe_dump({"files": [entry]}))
    target = mirror / "github" / "o" / "r" / commit / "t.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(payload)
    return target


def test_a_tampered_registry_file_makes_the_stamp_stale(fake, project, tmp_path, monkeypatch):
    payload = b"x,y\n1,2\n3,4\n"
    target = _toy_registry(project, tmp_path / "mirror", payload)
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(tmp_path / "mirror"))
    fake.reads = "toy"
    key = runner.remote_files_hash(project)
    assert runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)[0].status == "ok"
    assert runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)[0].status == "cached"
    good = published_result(project)

    target.write_bytes(payload.replace(b"3", b"9"))  # same size, other bytes; no FORCE
    assert runner.remote_files_hash(project) != key
    [o] = runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    assert o.status == "failed" and "does not match its pin" in o.error and o.last_good
    assert published_result(project) == good

    target.write_bytes(payload)  # put back: the last good result is current again
    assert runner.remote_files_hash(project) == key
    [o] = runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False)
    assert o.status == "cached"
    assert not (project / "build" / "notebooks" / "ci" / "failed" / "fixture2020_good.json").exists()


def test_remote_file_hashes_are_remembered_by_size_and_mtime(project, tmp_path, monkeypatch):
    payload = b"a,b\n1,2\n"
    target = _toy_registry(project, tmp_path / "mirror", payload)
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(tmp_path / "mirror"))
    (project / "build").mkdir()
    first = runner.remote_files_hash(project)
    stored = json.loads((project / "build" / runner.FILE_HASH_CACHE).read_text())
    assert [str(target.resolve()), len(payload)] in [e[:2] for e in stored]
    opened = []
    monkeypatch.setattr(runner, "open", lambda *a, **k: opened.append(a) or open(*a, **k), raising=False)
    assert runner.remote_files_hash(project) == first and opened == []
    # a missing local copy counts as its pin: a first download does not change the key
    target.unlink()
    assert runner.remote_files_hash(project) == first


def test_jobs_and_papers_from_the_environment_are_checked(project, monkeypatch, capsys):
    from scalinglab.cli import main
    for env, message in [({"JOBS": "abc"}, "jobs='abc' must be an integer"),
                         ({"WORKERS": "two"}, "workers='two' must be an integer"),
                         ({"PAPERS": ","}, "papers=',' names no paper"),
                         ({"PAPERS": " "}, "papers=' ' names no paper"),
                         ({"PAPERS": "nobody2020_x"},
                          "unknown paper(s) nobody2020_x; known: fixture2020_broken, fixture2020_good"),
                         ({"PARAMS": "bootstrap"}, "parameter 'bootstrap' must look like name=value")]:
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            assert main(["reproduce", "--profile", "ci", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("scalinglab: ") and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["reproduce", "--jobs", "x", "--no-progress"]) == 2
    assert capsys.readouterr().err == "scalinglab: jobs='x' must be an integer\n"
    with pytest.raises(runner.ParameterError, match="names no paper"):
        runner.reproduce(papers=[" ", ""], profile="ci")
    with pytest.raises(runner.ParameterError, match="names no paper"):
        runner.reproduce(papers=[], profile="ci")
    assert not (project / "build").exists()


def test_notebook_parameters_are_checked_before_any_kernel_starts(fake, project, monkeypatch, capsys):
    from scalinglab.cli import main
    good = ["fixture2020_good"]
    with pytest.raises(runner.ParameterError, match=r"^fixture2020_good: bootstrap=-3 must be >= 20$"):
        runner.reproduce(papers=good, profile="ci", params={"bootstrap": -3})
    with pytest.raises(runner.ParameterError,
                       match=r"^fixture2020_good: probe_angle_deg=500 must lie in \[0, 90\)$"):
        runner.reproduce(papers=good, profile="ci", params={"probe_angle_deg": 500})
    # a parameter one selected notebook does not declare names that notebook
    with pytest.raises(runner.ParameterError,
                       match="fixture2020_broken does not declare the parameter 'bootstrap'"):
        runner.reproduce(profile="ci", params={"bootstrap": 200})
    with pytest.raises(runner.ParameterError, match="out_dir is set by the runner"):
        runner.reproduce(papers=good, profile="ci", params={"out_dir": "elsewhere"})
    with pytest.raises(runner.ParameterError, match="profile is a runner option: give it as --profile"):
        runner.reproduce(papers=good, profile="ci", params={"profile": "gpu"})
    monkeypatch.setenv("PARAMS", "bootstrap=-3")
    assert main(["reproduce", "--papers", "fixture2020_good", "--profile", "ci"]) == 2
    assert capsys.readouterr().err == "scalinglab: fixture2020_good: bootstrap=-3 must be >= 20\n"
    monkeypatch.delenv("PARAMS")
    assert main(["reproduce", "--papers", "fixture2020_good", "--profile", "ci",
                 "--param", "probe_angle_deg=500"]) == 2
    assert capsys.readouterr().err == "scalinglab: fixture2020_good: probe_angle_deg=500 must lie in [0, 90)\n"
    # a malformed declaration is reported with its notebook and line
    path = project / "notebooks" / "fixture2020_broken.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"].append("\nbroken: int = 5  # >= ten: resamples")
    path.write_text(json.dumps(nb))
    with pytest.raises(runner.ParameterError,
                       match=r"^fixture2020_broken, parameters cell line 7: broken: cannot read the spec"):
        runner.reproduce(profile="ci")
    assert fake.calls == [] and not (project / "build").exists()


def test_given_parameters_are_injected_converted_and_part_of_the_skip_key(fake, project, monkeypatch):
    from scalinglab.cli import main
    monkeypatch.setenv("PARAMS", "bootstrap=200.0 probe_angle_deg=5")
    assert main(["reproduce", "--papers", "fixture2020_good", "--profile", "ci", "--no-progress",
                 "--param", "bootstrap=300"]) == 0
    nb = json.loads((project / "build" / "notebooks" / "ci" / "fixture2020_good.ipynb").read_text())
    injected = json.loads("".join(nb["cells"][2]["source"]))
    assert injected["bootstrap"] == 300 and injected["probe_angle_deg"] == 5.0
    assert isinstance(injected["probe_angle_deg"], float)
    assert main(["reproduce", "--papers", "fixture2020_good", "--profile", "ci", "--no-progress",
                 "--param", "bootstrap=300"]) == 0
    assert fake.calls == ["fixture2020_good"]  # the second run was skipped
    assert main(["reproduce", "--papers", "fixture2020_good", "--profile", "ci", "--no-progress"]) == 0
    assert fake.calls == ["fixture2020_good"] * 2  # other parameters: rerun


def test_a_closed_pipe_ends_the_command_quietly(project, capsys):
    from scalinglab.cli import main

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    real = sys.stdout
    sys.stdout = ClosedPipe()
    try:
        assert main(["profiles"]) == 141
    finally:
        sys.stdout = real
