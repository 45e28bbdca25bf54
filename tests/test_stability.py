"""Stability of the stored ci outputs: claims compared by value, text outputs compared as
nbval does, the debugging knobs (SCALINGLAB_PERTURB, SCALINGLAB_THREADS), and the
stored-claims check and golden-check on a fixture notebook."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from scalinglab.base import paths
from scalinglab.base.perturb import perturb, perturbation, seed_from_tag
from scalinglab.base.profiles import ParameterError
from scalinglab.repro import stability
from scalinglab.repro.claims import Scorecard, within
from scalinglab.repro.stability import compare_claims

ROOT = Path(__file__).resolve().parents[1]


def record(**claims):
    base = {"kind": "rerun", "ours": 1.0, "ours_interval": [0.9, 1.1], "passes": True,
            "verdict": "reproduced"}
    return {cid: {**base, **fields} for cid, fields in claims.items()}


# -- compare_claims ----------------------------------------------------------------------
def test_identical_claims_agree():
    stored = record(a={"ours": 0.5673, "ours_interval": [0.0001, 0.6027]}, b={})
    assert compare_claims(stored, json.loads(json.dumps(stored))) == []


def test_values_straddling_the_stored_rounding_agree():
    # 1.23449... and 1.23450... round to 1.234 and 1.235: one unit in the last digit
    stored = record(a={"ours": 1.234, "ours_interval": [9.999, 20.0]})
    computed = record(a={"ours": 1.235, "ours_interval": [10.0, 19.99]})
    assert compare_claims(stored, computed) == []
    # an unrounded value within the rounding of the stored one
    assert compare_claims(stored, record(a={"ours": 1.23449, "ours_interval": [9.9994, 20.0]})) == []


def test_a_change_within_the_relative_tolerance_agrees():
    assert stability.REL_TOL == 1e-3
    stored = record(a={"ours": 100.0})
    assert compare_claims(stored, record(a={"ours": 100.15})) == []
    assert compare_claims(stored, record(a={"ours": 100.3})) != []


def test_a_one_percent_change_fails():
    stored = record(a={"ours": 0.5673})
    problems = compare_claims(stored, record(a={"ours": 0.5673 * 1.01}))
    assert any("claim a: ours 0.5673 stored, 0.572973 now" in p for p in problems), problems
    assert "0.01 relative" in problems[0]
    assert problems[-1] == "(a value may move by the rounding to 4 significant digits plus 0.001 relative)"
    # an interval end too
    problems = compare_claims(record(a={}), record(a={"ours_interval": [0.9, 1.111]}))
    assert any("ours_interval high end 1.1 stored, 1.111 now" in p for p in problems), problems


def test_a_flipped_verdict_fails():
    stored = record(a={})
    problems = compare_claims(stored, record(a={"verdict": "not reproduced", "passes": False}))
    assert "claim a: verdict 'reproduced' stored, 'not reproduced' now" in problems
    assert "claim a: passes True stored, False now" in problems
    assert compare_claims(stored, record(a={"kind": "refit"})) == ["claim a: kind 'rerun' stored, 'refit' now"]


def test_a_missing_claim_fails_either_way():
    assert "claim b is stored but this run did not make it" in compare_claims(record(a={}, b={}), record(a={}))
    assert "claim b was made by this run but is not stored" in compare_claims(record(a={}), record(a={}, b={}))


def test_none_and_nan_equal_only_each_other():
    assert compare_claims(record(a={"ours": None}), record(a={"ours": math.nan})) == []
    assert compare_claims(record(a={"ours": None}), record(a={"ours": 1.0})) != []
    assert compare_claims(record(a={"ours": 0.0}), record(a={"ours": None})) != []
    assert compare_claims(record(a={"ours_interval": None}), record(a={})) != []
    assert compare_claims(record(a={"ours_interval": [None, 2.0]}), record(a={"ours_interval": [math.nan, 2.0]})) == []
    assert compare_claims(record(a={"ours": math.inf}), record(a={"ours": math.inf})) == []
    assert compare_claims(record(a={"ours": math.inf}), record(a={"ours": 1e300})) != []


def test_claims_record_from_a_claims_file_and_back_from_a_notebook(tmp_path):
    card = Scorecard("test2020_x", "ci")
    card.add("a", "a value", paper_value=1.0, paper_source="here", ours=1.00049, criterion=within(rel=0.1), alternative=(0.0, "zero"), departure="a test",
             ours_interval=(0.95, float("inf")))
    card.add("b", "no value", paper_value=1.0, paper_source="here", ours=None, criterion=within(rel=0.1),
             alternative=(0.0, "zero"), departure="a test")
    path = card.save(tmp_path)
    nb = {"cells": [], "metadata": {}}
    stability.store_claims(nb, path)
    text = json.dumps(nb, allow_nan=False)  # no NaN or inf reaches the notebook file
    stored = stability.stored_claims(json.loads(text))
    assert stored == {
        "a": {"kind": "rerun", "ours": 1.0, "ours_interval": [0.95, None], "passes": True,
              "verdict": "reproduced"},
        "b": {"kind": "rerun", "ours": None, "ours_interval": None, "passes": False,
              "verdict": "not reproduced"}}
    assert compare_claims(stored, stability.claims_record(card.to_dict()["claims"])) == []
    # a run that wrote no claims leaves none stored
    stability.store_claims(nb, tmp_path / "missing.json")
    assert stability.stored_claims(nb) is None


def test_check_stored_claims_raises_one_line_per_problem(tmp_path):
    (tmp_path / "notebooks").mkdir()
    claims = [{"id": "a", "kind": "rerun", "ours": 1.0, "ours_interval": None, "passes": True,
               "verdict": "reproduced"}]
    # no notebook, or a notebook without stored claims: nothing to compare
    stability.check_stored_claims("test2020_x", claims, root=tmp_path)
    nb = tmp_path / "notebooks" / "test2020_x.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}}))
    stability.check_stored_claims("test2020_x", claims, root=tmp_path)
    nb.write_text(json.dumps({"cells": [], "metadata": {"scalinglab": {"claims": stability.claims_record(claims)}}}))
    stability.check_stored_claims("test2020_x", claims, root=tmp_path)
    moved = [{**claims[0], "ours": 1.5, "verdict": "not reproduced"}]
    with pytest.raises(AssertionError) as err:
        stability.check_stored_claims("test2020_x", moved, root=tmp_path)
    lines = str(err.value).splitlines()
    assert "notebooks/test2020_x.ipynb" in lines[0]
    assert "  claim a: verdict 'reproduced' stored, 'not reproduced' now" in lines
    assert any(line.startswith("  claim a: ours 1 stored, 1.5 now") for line in lines)


# -- text outputs ------------------------------------------------------------------------
def code(outputs, source="x = 1", tags=()):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}, "outputs": outputs}


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(plain, html=None):
    data = {"text/plain": plain}
    if html is not None:
        data["text/html"] = html
    return {"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": 1}


def test_the_sanitizers_are_those_of_nbval():
    sanitizers = stability.load_sanitizers(ROOT / "tests" / "nbval_sanitize.cfg")
    assert stability.sanitize("took 3.2 s at 0x7f12ab", sanitizers) == "took DURATION at 0xADDRESS"
    assert stability.sanitize("[I] Kernel is running over TCP without encryption.", sanitizers) == ""


def test_compare_cells_reports_the_first_differing_line_of_each_cell():
    sanitizers = stability.load_sanitizers(ROOT / "tests" / "nbval_sanitize.cfg")
    md = {"cell_type": "markdown", "source": "# t", "metadata": {}}
    stored = {"cells": [md, code([stream("a\nb = 0.5673 (1.2 s)\n")]), code([result("0.1")]),
                        code([result("x", "<td>0.25</td>")]), code([stream("noise 1\n")], tags=["nbval-ignore-output"])]}
    got = {"cells": [md, code([stream("a\n"), stream("b = 0.5673 (7.9 s)\n")]), code([result("0.1")]),
                     code([result("x", "<td>0.26</td>")]), code([stream("noise 2\n")], tags=["nbval-ignore-output"])]}
    assert stability.compare_cells(stored, got, sanitizers) == [
        {"cell": 2, "kind": "text/html", "line": 1, "stored": "<td>0.25</td>", "got": "<td>0.26</td>"}]
    got["cells"][1] = code([stream("a\nb = 0.5674 (1.0 s)\n")])
    got["cells"][2] = code([result("0.1", "<b>0.1</b>")])  # html only compared where stored
    diffs = stability.compare_cells(stored, got, sanitizers)
    assert diffs[0] == {"cell": 0, "kind": "stdout", "line": 2, "stored": "b = 0.5673 (DURATION)",
                        "got": "b = 0.5674 (DURATION)"}
    assert [d["cell"] for d in diffs] == [0, 2]


def test_the_report_tells_stale_outputs_from_unstable_ones():
    import io

    from scalinglab.repro.goldencheck import CheckResult, report
    diff = {"cell": 3, "kind": "stdout", "line": 2, "stored": "a = 1.0", "got": "a = 1.1"}
    moved = {"cell": 5, "kind": "text/plain", "line": 1, "stored": "b = 2.0", "got": "b = 2.1"}
    results = {("perturb", "p"): CheckResult("perturb", "p", cells=[diff, moved], vs_baseline=[5],
                                             claims=["claim c: verdict 'reproduced' stored, 'not reproduced' now"]),
               ("baseline", "p"): CheckResult("baseline", "p", cells=[diff]),
               ("perturb", "q"): CheckResult("perturb", "q", ok=False, failure={
                   "cell": 4, "source": "fit = fit_law(...)", "error": "CellTimeoutError: 600 s"}),
               ("baseline", "q"): CheckResult("baseline", "q")}
    out = io.StringIO()
    differing = report(results, ["perturb", "baseline"], ["p", "q"], out)
    assert [(r.variant, r.paper) for r in differing] == [("perturb", "p"), ("perturb", "q"), ("baseline", "p")]
    text = out.getvalue()
    assert "  p  2 cell(s) differ, claims differ\n" in text
    assert "      cell 3 (stdout, line 2) (as in baseline: stale, not unstable):\n" in text
    assert "      cell 5 (text/plain, line 1):\n        stored: b = 2.0\n        got:    b = 2.1\n" in text
    assert "        claim c: verdict 'reproduced' stored, 'not reproduced' now" in text
    assert "  q  FAILED\n      cell 4: fit = fit_law(...)\n      CellTimeoutError: 600 s\n" in text
    assert "== baseline\n  p  1 cell(s) differ\n      cell 3 (stdout, line 2):\n" in text
    assert text.rstrip().endswith("q  OK")


# -- the knobs ---------------------------------------------------------------------------
def test_perturbation_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv("SCALINGLAB_PERTURB", raising=False)
    y = np.array([1.0, 2.0, 3.0])
    assert perturbation() == 0.0 and perturb(y, "t") is y
    monkeypatch.setenv("SCALINGLAB_PERTURB", "0")
    assert perturb(y, "t") is y
    for bad in ("abc", "-1e-9", "0.5", "nan"):
        monkeypatch.setenv("SCALINGLAB_PERTURB", bad)
        with pytest.raises(ValueError, match="SCALINGLAB_PERTURB"):
            perturbation()


def test_perturb_is_small_seeded_by_its_tag_and_leaves_global_state_alone(monkeypatch):
    monkeypatch.setenv("SCALINGLAB_PERTURB", "1e-9")
    y = np.linspace(1.0, 2.0, 200)
    np.random.seed(5)
    state = np.random.get_state()[1].copy()
    a, b, c = perturb(y, "fit.targets"), perturb(y, "fit.targets"), perturb(y, "other")
    assert np.array_equal(np.random.get_state()[1], state)
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, y)
    rel = np.abs(a / y - 1)
    assert 1e-11 < rel.mean() < 5e-9
    # float32 moves by its own last bit, not by nothing
    y32 = y.astype(np.float32)
    p32 = perturb(y32, "t")
    assert p32.dtype == np.float32 and (p32 != y32).any()
    assert seed_from_tag("x") == seed_from_tag("x") != seed_from_tag("y")


def test_the_fit_targets_and_initial_weights_are_perturbed(monkeypatch):
    import torch
    from scalinglab.fit.api import prepare
    from scalinglab.fit.laws import PowerLaw
    from scalinglab.train.trainer import perturb_weights

    x, y = np.array([1.0, 2.0, 4.0, 8.0]), np.array([3.0, 2.0, 1.5, 1.2])
    model = torch.nn.Linear(8, 8)
    before = [p.detach().clone() for p in model.parameters()]
    monkeypatch.delenv("SCALINGLAB_PERTURB", raising=False)
    monkeypatch.delenv("SCALINGLAB_PERTURB_WEIGHTS", raising=False)
    assert np.array_equal(prepare(PowerLaw(), {"x": x}, y)[1], y)
    perturb_weights(model, "t")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))

    monkeypatch.setenv("SCALINGLAB_PERTURB", "1e-9")
    y_p = prepare(PowerLaw(), {"x": x}, y)[1]
    assert not np.array_equal(y_p, y) and np.allclose(y_p, y, rtol=1e-8)
    perturb_weights(model, "t")  # the fit targets' switch leaves weights alone
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    monkeypatch.setenv("SCALINGLAB_PERTURB_WEIGHTS", "1e-9")
    torch.manual_seed(3)
    rng_state = torch.get_rng_state()
    perturb_weights(model, "t")
    assert torch.equal(torch.get_rng_state(), rng_state)  # the seeded stream is untouched
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert all(torch.allclose(p, q, rtol=1e-6, atol=0) for p, q in zip(model.parameters(), before))


def test_perturbed_runs_get_a_cache_of_their_own(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path))
    monkeypatch.delenv("SCALINGLAB_PERTURB_WEIGHTS", raising=False)
    assert paths.cache_dir() == tmp_path
    monkeypatch.setenv("SCALINGLAB_PERTURB", "1e-9")  # fit targets only: runs unchanged
    assert paths.cache_dir() == tmp_path
    monkeypatch.setenv("SCALINGLAB_PERTURB_WEIGHTS", "1e-9")
    assert paths.cache_dir() == tmp_path / "perturbed-weights-1e-09"


def test_ci_threads_and_the_native_thread_limit(monkeypatch):
    from threadpoolctl import threadpool_info

    import scalinglab as sl
    from scalinglab.repro.notebook import ci_threads

    monkeypatch.delenv("SCALINGLAB_THREADS", raising=False)
    assert ci_threads() == 1
    monkeypatch.setenv("SCALINGLAB_THREADS", "3")
    assert ci_threads() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("SCALINGLAB_THREADS", bad)
        with pytest.raises(ParameterError, match="SCALINGLAB_THREADS"):
            ci_threads()
    monkeypatch.delenv("SCALINGLAB_THREADS")
    run = sl.start("test2020_threads", device="cpu")
    try:
        pools = [i for i in threadpool_info() if i["user_api"] in ("blas", "openmp")]
        assert pools and all(i["num_threads"] == 1 for i in pools)
    finally:
        run.thread_limits.restore_original_limits()


# -- end to end on a fixture notebook ------------------------------------------------------
@pytest.fixture
def project(tmp_path, fixture_notebooks, monkeypatch):
    shutil.copytree(fixture_notebooks, tmp_path / "notebooks")
    (tmp_path / "data").mkdir()
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path / "tests")
    (tmp_path / "requirements.txt").write_text("numpy==1\n")
    monkeypatch.setenv("SCALINGLAB_ROOT", str(tmp_path))
    return tmp_path


@pytest.mark.notebook
def test_golden_stores_claims_that_runs_and_golden_check_compare(project, capsys):
    from scalinglab.repro import runner
    from scalinglab.repro.goldencheck import golden_check

    path = project / "notebooks" / "fixture2020_good.ipynb"
    assert runner.golden(["fixture2020_good"]) == 0
    nb = json.loads(path.read_text())
    assert nb["metadata"]["scalinglab"]["claims"]["value_near_one"] == {
        "kind": "rerun", "ours": 1.001, "ours_interval": None, "passes": True, "verdict": "reproduced"}
    assert nb["metadata"]["scalinglab"]["claims"]["needs_cpu"]["verdict"] == "indicative"

    assert golden_check(["fixture2020_good"], variants=["perturb"], progress=False) == 0
    out = capsys.readouterr().out
    assert "SCALINGLAB_PERTURB=1e-9" in out and "all 1 runs match" in out

    # A stored output and a stored claim that this machine does not reproduce.
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code_cells[1]["outputs"][0]["text"] = ["ci build/elsewhere\n"]
    nb["metadata"]["scalinglab"]["claims"]["value_near_one"]["ours"] = 1.02
    path.write_text(json.dumps(nb))
    assert golden_check(["fixture2020_good"], variants=["baseline"], jobs=1, progress=False) == 1
    out = capsys.readouterr().out
    assert "cell 1 (stdout, line 1):" in out
    assert "stored: ci build/elsewhere" in out and "got:    ci build/lab" in out
    assert "claim value_near_one: ours 1.02 stored, 1.001 now" in out

    # Under pytest (SCALINGLAB_CHECK_STORED_CLAIMS=1) the run itself fails at finish().
    outcomes = runner.reproduce(papers=["fixture2020_good"], profile="ci", progress=False, force=True)
    assert outcomes[0].status == "failed"
    assert "AssertionError" in outcomes[0].error
