"""The results of record under results/: complete, current, and made of claims that
can fail. Also the record machinery itself on a small fake run."""
import base64
import json
from pathlib import Path

import pytest

from scalinglab.base.paths import project_root
from scalinglab.repro import record
from scalinglab.repro.runner import discover

ROOT = project_root()
NOTEBOOKS = [p.stem for p in discover(folder=ROOT / "notebooks")]
RECORD_PROFILE = "cpu"  # the record every notebook must have (gpu when one is lent)


# -- the committed record -------------------------------------------------------------
def test_every_notebook_has_a_current_cpu_record():
    stale = record.stale_papers(RECORD_PROFILE, ROOT)
    lines = [f"{paper}: {'; '.join(reasons)}" for paper, reasons in sorted(stale.items())]
    assert not stale, ("the cpu record is missing or out of date for\n  " + "\n  ".join(lines)
                       + f"\nrefresh it with: {record.refresh_command(stale, RECORD_PROFILE)}")


@pytest.mark.parametrize("profile", record.recorded_profiles(ROOT) or ["cpu"])
def test_no_counted_claim_in_the_record_accepts_its_alternative(profile):
    folder = record.results_dir(ROOT) / profile / "claims"
    files = sorted(folder.glob("*.json"))
    assert files, f"no claims under {folder}: run `make record`"
    problems = []
    for path in files:
        for claim in json.loads(path.read_text())["claims"]:
            problems += [f"{path.stem}: {p}" for p in record.claim_problems(claim)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", record.recorded_profiles(ROOT) or ["cpu"])
def test_the_record_scorecard_adds_up(profile):
    base = record.results_dir(ROOT) / profile
    card = json.loads((base / "scorecard.json").read_text())
    assert card["profile"] == profile and card["record"] is True
    for row in card["papers"]:
        claims = json.loads((base / row["claims_file"]).read_text())
        counted = [c for c in claims["claims"] if c["counted"]]
        judged = [c for c in counted if c["verdict"] not in ("indicative", "not testable")]
        assert row["claims_total"] == len(counted)
        assert row["claims_judged"] == len(judged)
        assert row["claims_reproduced"] == sum(c["verdict"] == "reproduced" for c in judged)
        assert row["checks"] == len(claims["claims"]) - len(counted)
        # the executed notebook loads with its images back in place
        nb = record.load_notebook(base / row["notebook"])
        assert nb["cells"]


# -- the machinery ---------------------------------------------------------------------
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 32).decode()


def _executed(tmp: Path) -> Path:
    nb = {"cells": [{"cell_type": "code", "source": "plot()", "metadata": {"execution": {}},
                     "outputs": [{"output_type": "display_data", "metadata": {},
                                  "data": {"image/png": PNG, "text/plain": "<Figure>"}}],
                     "execution_count": 1}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp / "executed.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_trimmed_notebook_keeps_images_as_files_and_loads_back(tmp_path):
    nb = json.loads(_executed(tmp_path).read_text())
    trimmed = record.trim_notebook(nb, tmp_path / "nb" / "paper", "paper")
    out = trimmed["cells"][0]["outputs"][0]
    assert "image/png" not in out["data"] and out["metadata"][record.IMAGE_KEY]["path"].startswith("paper/")
    (tmp_path / "nb" / "paper.ipynb").write_text(json.dumps(trimmed))
    loaded = record.load_notebook(tmp_path / "nb" / "paper.ipynb")
    assert loaded["cells"][0]["outputs"][0]["data"]["image/png"] == PNG
    for image in (tmp_path / "nb" / "paper").iterdir():
        image.unlink()
    with pytest.raises(record.RecordError, match="missing"):
        record.load_notebook(tmp_path / "nb" / "paper.ipynb")


def _claim(**changes):
    claim = {"id": "alpha", "kind": "rerun", "counted": True, "verdict": "reproduced",
             "paper_value": 0.076, "ours": 0.08, "ours_interval": [0.07, 0.09],
             "criterion": {"kind": "matches", "rel": 0.3, "quantity": "exponent"},
             "alternative": {"value": 0.0, "text": "no dependence"}, "departure": ""}
    claim.update(changes)
    return claim


def test_claim_problems_catch_claims_that_cannot_fail():
    assert record.claim_problems(_claim()) == []
    assert "without an alternative" in record.claim_problems(_claim(alternative=None))[0]
    # a claim the data cannot decide needs its reason, not an alternative
    assert record.claim_problems(_claim(alternative=None, verdict="not testable",
                                        untestable="tokens per parameter fixed")) == []
    assert "without a reason" in record.claim_problems(_claim(alternative=None, verdict="not testable"))[0]
    wide = _claim(criterion={"kind": "matches", "rel": 2.0, "quantity": "exponent"})
    assert "accepts its alternative" in record.claim_problems(wide)[0]
    typed = _claim(criterion={"kind": "within", "abs": 0.01})
    assert "departs" in record.claim_problems(typed)[0]
    assert record.claim_problems(_claim(criterion={"kind": "within", "abs": 0.01},
                                        departure="the paper's stated error")) == []
    straddles = _claim(criterion={"kind": "agrees"}, ours_interval=[-0.01, 0.1])
    assert "contains the alternative" in record.claim_problems(straddles)[0]
    assert record.claim_problems(_claim(kind="check", counted=False, alternative=None)) == []


def test_a_changed_library_file_makes_the_record_stale(tmp_path, monkeypatch):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    (nb_dir / "test2020_x.ipynb").write_text(_executed(tmp_path).read_text())
    lib = tmp_path / "pkg"
    (lib / "fit").mkdir(parents=True)
    (lib / "fit" / "laws.py").write_text("A = 1\n")
    monkeypatch.setattr(record.paths, "PACKAGE_DIR", lib)
    entry = {"paper": "test2020_x",
             "notebook_hash": record.notebook_code_hash(nb_dir / "test2020_x.ipynb"),
             "library_files": {"fit/laws.py": record.file_sha256(lib / "fit" / "laws.py")},
             "data_hash": record.data_files_hash(tmp_path)}
    assert record.stale_reasons(entry, tmp_path) == []
    (lib / "fit" / "laws.py").write_text("A = 2\n")
    assert record.stale_reasons(entry, tmp_path) == ["library changed: lib/scalinglab/fit/laws.py"]
    assert record.refresh_command(["b", "a"], "cpu") == "make record PAPERS=a,b"


def test_ci_is_not_a_record_profile():
    with pytest.raises(record.ParameterError, match="smoke test"):
        record.record(["x"], profile="ci", root=ROOT)


def test_readme_shows_the_record():
    text = (ROOT / "README.md").read_text()
    assert record.README_START in text and record.README_END in text
    cards = [json.loads((record.results_dir(ROOT) / p / "scorecard.json").read_text())
             for p in record.recorded_profiles(ROOT)]
    block = text.split(record.README_START, 1)[1].split(record.README_END, 1)[0]
    assert record.README_START + block + record.README_END == record.readme_block(cards), (
        "README.md's scorecard differs from results/: run `make record` (it rewrites it)")


def test_a_rule_inequality_is_read_back_as_the_rule():
    from scalinglab.repro import Scorecard, less_than
    card = Scorecard("test2020_x", "cpu")
    card.add("a", "s", paper_value=None, paper_source="t", ours=0.1, criterion=less_than(),
             alternative=(0.168137, "a plain power law's error"))
    claim = card.to_dict()["claims"][0]
    assert claim["criterion"]["from_alternative"] and claim["alternative"]["value"] == 0.1681
    assert record.claim_problems(claim) == []
