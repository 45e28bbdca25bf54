"""Small site inputs made from nothing, with the shapes the project writes:

- :func:`make_fixture_inputs`: a ci run under ``<folder>/build`` as ``make reproduce
  PROFILE=ci`` leaves it (executed notebooks, claims files, scorecards), the site's
  smoke-test view;
- :func:`make_fixture_record`: results of record under ``<folder>/results/<profile>`` as
  ``make record`` writes them (record.json, scorecard.json/.md, claims, figures and
  notebooks whose images sit in files beside them), plus the ci run above.

The site tests build from them, so checking the site needs no full reproduction;
``python -m scalinglab.site demo`` builds a demo site from them too.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from scalinglab.site.catalogue import Paper

PROFILE = "ci"  # the smoke run's profile
RECORD_PROFILE = "cpu"


def _png(title: str, slope: float) -> str:
    """A small log-log figure as base64 PNG, like a notebook's inline output."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.logspace(5, 8, 12)
    fig, ax = plt.subplots(figsize=(4.0, 2.8), dpi=80)
    ax.loglog(x, 3.0 * (x / 1e5) ** (-slope), "o-")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _code(source: str, outputs: list[dict[str, Any]], count: int, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs,
            "source": source}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def _md(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


# A claim: (id, statement, paper value, ours, verdict, tags, our interval) and, as a dict
# in an eighth place, what differs from a rerun judged by the rule at the ci profile:
# kind, passes (an indicative claim), min_profile, criterion, departure.
def _claim(cid: str, statement: str, paper_value: float | None, ours: float | None,
           verdict: str, tags: list[str], interval: list[float] | None = None,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = dict(extra or {})
    kind = extra.get("kind", "rerun")
    counted = kind != "check"
    criterion = extra.get("criterion", {"kind": "matches", "rel": 0.3, "quantity": "exponent"})
    departure = extra.get("departure", "")
    return {
        "id": cid, "statement": statement, "kind": kind, "counted": counted,
        "paper_value": paper_value, "paper_source": "Fixture et al., Table 1",
        "paper_interval": extra.get("paper_interval"), "ours": ours, "ours_interval": interval,
        "criterion": criterion,
        "criterion_text": extra.get("criterion_text", "within ±30% of the paper"),
        "follows_rule": not departure,
        "departure": departure,
        "alternative": ({"value": 0.0, "text": "no dependence on N"} if counted else None),
        "min_profile": extra.get("min_profile", "ci"), "verdict": verdict,
        "passes": extra.get("passes", verdict in ("reproduced", "holds")),
        "reason": extra.get("reason", ""), "note": extra.get("note", ""), "unit": "", "tags": tags,
    }


def _counts(claims: list[dict[str, Any]]) -> dict[str, int]:
    """As Scorecard.counts(): counted claims only, checks apart."""
    counted = [c for c in claims if c["counted"]]
    judged = [c for c in counted if c["verdict"] not in ("indicative", "not testable")]
    checks = [c for c in claims if not c["counted"]]
    return {"total": len(counted), "judged": len(judged),
            "reproduced": sum(c["verdict"] == "reproduced" for c in judged),
            "indicative": len(counted) - len(judged),
            "indicative_would_pass": sum(c["passes"] for c in counted if c["verdict"] == "indicative"),
            "checks": len(checks), "checks_hold": sum(c["verdict"] == "holds" for c in checks)}


def _provenance(profile: str, seed: int = 0) -> dict[str, Any]:
    return {"git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
            "scalinglab": "0.1.0", "library_sha256": "ab" * 32,
            "packages": {"numpy": "2.4.6", "torch": "2.13.0"}, "python": "3.11.7",
            "platform": "Linux x86_64", "device": "cpu", "device_name": "x86_64", "threads": 1,
            "seed": seed, "profile": profile}


CHECK = {"kind": "check", "criterion": {"kind": "within", "rel": 0.05},
         "criterion_text": "within ±5% of the paper"}
ABOVE_CI = {"min_profile": "cpu"}
ABOVE_CPU = {"min_profile": "gpu"}

# paper id, title, run status, claims
PAPERS = [
    ("fixture2020_power", "Power Laws in a Fixture", "ok", [
        ("alpha_N", "Loss falls as a power law in parameters", 0.076, 0.081, "reproduced",
         ["exponent"], [0.07, 0.09]),
        ("alpha_D", "Loss falls as a power law in data", 0.095, 0.21, "not reproduced",
         ["exponent"], [0.18, 0.25]),
        ("compute_6ND", "Compute is about 6ND", 6.0, 6.1, "holds", [], None, CHECK),
    ]),
    ("fixture2021_theory", "A Solvable Fixture of Scaling", "cached", [
        ("slope", "The test error slope equals the spectrum exponent", 0.5, 0.52, "reproduced",
         ["exponent"], [0.47, 0.57], {"kind": "theory"}),
        ("plateau", "A finite spectrum gives a plateau", 1.0, 1.0, "indicative", [], None,
         {**ABOVE_CI, "passes": True}),
    ]),
    ("fixture2022_broken", "A Fixture That Fails", "failed", []),
]

# the record: (paper id, title, claims); fixture2022_broken failed, so it has no record
RECORD_PAPERS = [
    ("fixture2020_power", "Power Laws in a Fixture", [
        ("alpha_N", "Loss falls as a power law in parameters, L ∝ N^-alpha_N", 0.076, 0.079, "reproduced",
         ["exponent"], [0.072, 0.086]),
        ("alpha_D", "Loss falls as a power law in data", 0.095, 0.19, "not reproduced",
         ["exponent"], [0.17, 0.22], {"reason": "|ours - paper| = 0.095"}),
        ("alpha_C", "Loss falls as a power law in compute", 0.05, 0.11, "indicative",
         ["exponent"], [0.08, 0.14], {**ABOVE_CPU, "passes": False}),
        ("compute_6ND", "Compute is about 6ND", 6.0, 6.1, "holds", [], None, CHECK),
    ]),
    ("fixture2021_theory", "A Solvable Fixture of Scaling", [
        ("slope", "The test error slope equals the spectrum exponent", 0.5, 0.51, "reproduced",
         ["exponent"], [0.48, 0.55], {"kind": "theory"}),
        ("plateau", "A finite spectrum gives a plateau", 1.0, 1.02, "indicative", [], None,
         {**ABOVE_CPU, "passes": True}),
        ("spectrum_sum", "The spectrum sums to the trace", 10.0, 12.0, "fails", [], None, CHECK),
    ]),
    ("fixture2023_refit", "A Refit That Misses", [
        ("beta", "The data exponent of the published table", 0.28, 0.41, "not reproduced",
         ["exponent"], [0.37, 0.45],
         {"kind": "refit", "criterion": {"kind": "within", "abs": 0.05},
          "criterion_text": "within ±0.05 of the paper",
          "departure": "the paper states its exponent to two digits only"}),
    ]),
    ("fixture2024_pending", "A Fixture Judged Only On A GPU", [
        ("gamma", "Loss falls with depth", 0.3, 0.33, "indicative", ["exponent"], [0.2, 0.45],
         {**ABOVE_CPU, "passes": True}),
    ]),
]


def _table_html(rows: list[tuple[str, float, float, int]]) -> str:
    """A pandas-style DataFrame table (as DataFrame._repr_html_ writes it)."""
    body = "".join(f"<tr><th>{i}</th><td>{name}</td><td>{a}</td><td>{b}</td><td>{n}</td></tr>"
                   for i, (name, a, b, n) in enumerate(rows))
    return ("<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n"
            "        vertical-align: middle;\n    }\n</style>\n"
            '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
            "      <th></th>\n      <th>model</th>\n      <th>loss</th>\n      <th>alpha</th>\n"
            f"      <th>runs</th>\n    </tr>\n  </thead>\n  <tbody>{body}</tbody>\n</table>\n</div>")


def _notebook(paper: str, title: str, i: int, claims: list[dict[str, Any]], failed: bool,
              profile: str, wall: float) -> dict[str, Any]:
    cells = [
        _md(f"# {title}\n\nFixture et al. {2020 + i}, arXiv:2001.0836{i}.\n\n"
            "The paper claims that the loss follows $L(N) = (N_c/N)^{\\alpha_N}$ and\n\n"
            "$$C \\approx 6ND.$$\n\nPaper values are the fact sheet's."),
        _code('profile: str = "ci"  # ci|cpu|gpu: how much compute to spend\n'
              'seed: int = 0  # >= 0: seed for every random number generator\n'
              'out_dir: str = "build/lab"  # figures and claims', [], 1, ["parameters"]),
        _code(f'# Parameters\nprofile = "{profile}"\nout_dir = "build/.staging/{profile}/{paper}"\n',
              [], 2, ["injected-parameters"]),
        _code("run = sl.start(...)\nrun", [_stream(f"{paper} · profile {profile} · device cpu · seed 0\n")], 3),
        _md("## Fit\n\nThe fit prints its choices."),
        _code("fit = fit_power_law(x, y)", [_stream("fit power: A·x^(−alpha) · 12 points · objective lsq\n")], 4),
        _code("table", [{"output_type": "execute_result", "execution_count": 5, "metadata": {},
                         "data": {"text/html": _table_html([("tiny", 3.1415, 0.0761, 12),
                                                            ("small", 2.5, 0.081, 8)]),
                                  "text/plain": "   model  loss  alpha  runs"}}], 5),
        _md("## Figures"),
    ]
    if failed:
        cells.append(_code("raise RuntimeError('the sweep diverged')", [{
            "output_type": "error", "ename": "RuntimeError", "evalue": "the sweep diverged",
            "traceback": ["RuntimeError: the sweep diverged"]}], 6))
    else:
        cells.append(_code("fig = plot(); run.savefig(fig, 'loss')", [{
            "output_type": "display_data", "metadata": {},
            "data": {"image/png": _png(title, 0.08 + 0.4 * i), "text/plain": "<Figure size 320x224>"},
        }], 6))
        table = "".join(f"<tr><td>{c['id']}</td><td>{c['verdict']}</td></tr>" for c in claims)
        cells += [_md("## Scorecard"), _code("run.finish()", [{
            "output_type": "execute_result", "execution_count": 7, "metadata": {},
            "data": {"text/html": f"<table class='scalinglab-scorecard'>{table}</table>",
                     "text/plain": f"{paper}: scorecard"}}], 7)]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "scalinglab": {"paper": paper, "profile": profile, "device": "cpu",
                       "wall_time_s": wall, "started_at": "2026-01-02T03:04:05+00:00",
                       "finished_at": "2026-01-02T03:04:18+00:00",
                       "provenance": _provenance(profile)}}}
    for j, cell in enumerate(nb["cells"]):
        cell["id"] = f"c{j}"
    return nb


def _claims_file(paper: str, title: str, i: int, profile: str, claims: list[dict[str, Any]]) -> dict:
    return {"paper": paper, "title": title, "citation": f"Fixture, Other, Third {2020 + i}, arXiv:2001.0836{i}",
            "profile": profile, "counts": _counts(claims), "claims": claims,
            "provenance": _provenance(profile)}


def fixture_catalogue() -> list[Paper]:
    """Catalogue entries for the fixture papers (status derived), a planned paper and
    two out of scope."""
    ids = {p: t for p, t, _, _ in PAPERS} | {p: t for p, t, _ in RECORD_PAPERS}
    return [
        Paper(id=p, title=t, year=2020 + i, arxiv=f"2001.0836{i}", category="A1",
              topic="theory-solvable" if i == 1 else "lm-compute-optimal",
              notebook=f"{p}.ipynb", reason="fixture notebook", source="added")
        for i, (p, t) in enumerate(sorted(ids.items()))
    ] + [
        Paper(id="planned-vision-paper", title="Scaling Vision Fixtures", year=2023, arxiv=None,
              category="B", topic="vision", notebook=None, reason="needs large compute"),
        Paper(id="some-model-report", title="A Model Technical Report with $\\texttt{t5x}$",
              year=None, arxiv=None, category="C", topic="model report", notebook=None,
              reason="model technical report, no scaling law"),
        Paper(id="some-method", title="A Method That Scales", year=2019, arxiv="1901.00001",
              category="C", topic="method", notebook=None, reason="training method, no scaling law"),
    ]


def make_fixture_inputs(folder: str | Path) -> dict[str, Any]:
    """Write a ci run under ``folder/build`` (as ``make reproduce PROFILE=ci`` does);
    return the paths and the catalogue."""
    folder = Path(folder)
    build = folder / "build"
    notebooks = build / "notebooks" / PROFILE
    claims_dir = build / PROFILE / "claims"
    notebooks.mkdir(parents=True, exist_ok=True)
    claims_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (paper, title, status, claims) in enumerate(PAPERS):
        claim_dicts = [_claim(*c) for c in claims]
        counts = _counts(claim_dicts)
        claims_file = ""
        if status != "failed":
            (claims_dir / f"{paper}.json").write_text(json.dumps(
                _claims_file(paper, title, i, PROFILE, claim_dicts), indent=2))
            claims_file = f"build/{PROFILE}/claims/{paper}.json"
        nb = _notebook(paper, title, i, claim_dicts, status == "failed", PROFILE, 12.5 + i)
        (notebooks / f"{paper}.ipynb").write_text(json.dumps(nb, indent=1))
        rows.append({
            "paper": paper, "title": title if status != "failed" else "",
            "citation": f"Fixture et al. {2020 + i}" if status != "failed" else "",
            "profile": PROFILE, "device": "cpu", "status": status,
            "claims_total": counts["total"], "claims_judged": counts["judged"],
            "claims_reproduced": counts["reproduced"], "claims_indicative": counts["indicative"],
            "wall_time_s": 12.5 + i, "date": "2026-01-02",
            "notebook": f"build/notebooks/{PROFILE}/{paper}.ipynb", "claims_file": claims_file,
            "error": "RuntimeError: the sweep diverged" if status == "failed" else "",
            "last_good": None})
    keys = ("claims_total", "claims_judged", "claims_reproduced", "claims_indicative")
    totals = {"papers": len(rows), **{k: sum(r[k] for r in rows) for k in keys},
              "failed": sum(r["status"] == "failed" for r in rows), "last_good": 0}
    text = json.dumps({"profile": PROFILE, "generated_at": "2026-01-02T03:05:00+00:00",
                       "totals": totals, "papers": rows}, indent=2)
    scorecard = build / "scorecard.json"
    scorecard.write_text(text)  # the latest run, as the runner writes it
    (build / PROFILE / "scorecard.json").write_text(text)
    return {"root": folder, "build": build, "notebooks_dir": notebooks,
            "scorecard_path": build / PROFILE / "scorecard.json",
            "claims_dir": claims_dir, "catalogue": fixture_catalogue()}


def make_fixture_record(folder: str | Path, profile: str = RECORD_PROFILE,
                        smoke: bool = True) -> dict[str, Any]:
    """Write results of record under ``folder/results/<profile>`` (as ``make record``
    does) and, with ``smoke``, the ci run under ``folder/build``; return the paths, the
    runs and the catalogue."""
    from scalinglab.repro.record import (
        RECORD_FILE, scorecard_from_record, scorecard_markdown, trim_notebook,
    )
    from scalinglab.site.inputs import record_run, smoke_run

    folder = Path(folder)
    results = folder / "results"
    dest = results / profile
    entries = {}
    for i, (paper, title, claims) in enumerate(RECORD_PAPERS):
        claim_dicts = [_claim(*c) for c in claims]
        data = _claims_file(paper, title, i, profile, claim_dicts)
        (dest / "claims").mkdir(parents=True, exist_ok=True)
        (dest / "claims" / f"{paper}.json").write_text(
            json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        wall = 240.0 + 60 * i
        nb = _notebook(paper, title, i, claim_dicts, False, profile, wall)
        png = next(o["data"]["image/png"] for c in nb["cells"] for o in c.get("outputs", [])
                   if "image/png" in o.get("data", {}))
        (dest / "figures" / paper).mkdir(parents=True, exist_ok=True)
        (dest / "figures" / paper / "loss.png").write_bytes(base64.b64decode(png))
        # as record_paper stores it: papermill's metadata dropped, images in files
        trimmed = trim_notebook(nb, dest / "notebooks" / paper, paper)
        (dest / "notebooks" / f"{paper}.ipynb").write_text(
            json.dumps(trimmed, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        entries[paper] = {
            "paper": paper, "profile": profile, "title": title, "citation": data["citation"],
            "counts": data["counts"], "date": "2026-01-03", "wall_time_s": wall, "device": "cpu",
            "notebook_hash": "cd" * 32, "library_files": {"fit/laws.py": "ef" * 32},
            "data_hash": "01" * 32,
            "machine": {"platform": "Linux x86_64", "cpu": "Fixture CPU @ 2.0GHz", "cores": 2,
                        "python": "3.11.7"},
            "packages": {"numpy": "2.4.6"}, "commit": "0123456789abcdef0123456789abcdef01234567",
        }
    rec = {"profile": profile, "updated_at": "2026-01-03T04:05:06+00:00", "papers": entries}
    (dest / RECORD_FILE).write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    card = scorecard_from_record(rec)
    (dest / "scorecard.json").write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    (dest / "scorecard.md").write_text(scorecard_markdown(card))
    out: dict[str, Any] = {"root": folder, "results": results, "record_dir": dest,
                           "scorecard_path": dest / "scorecard.json",
                           "record_run": record_run(results, profile), "smoke_run": None,
                           "build": folder / "build", "catalogue": fixture_catalogue()}
    if smoke:
        make_fixture_inputs(folder)
        out["smoke_run"] = smoke_run(folder / "build", folder)
    return out


def shared_fixture_site(folder: str | Path, catalogue: list[Paper]) -> dict[str, Any]:
    """Build the fixture site (a record, the ci run, two docs guides) once under
    ``folder``, whichever test process asks first; the others wait for it and reuse it
    (pytest-xdist workers share the folder). Returns the inputs, the build result's
    fields and the paths."""
    import fcntl

    from scalinglab.site.build import build_site

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "built.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            inputs_dir = folder / "inputs"
            if not done.exists():
                inputs = make_fixture_record(inputs_dir)
                docs = folder / "docs"
                docs.mkdir(exist_ok=True)
                (docs / "cluster.md").write_text("# Running on a cluster\n\nUse `EXECUTOR=slurm`.\n")
                (docs / "notes.md").write_text("A guide without a title of its own.\n")
                result = build_site(inputs["record_run"], catalogue, folder / "out",
                                    smoke=inputs["smoke_run"], docs_dir=docs)
                done.write_text(json.dumps({"pages": result.pages, "papers": result.papers}))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    from scalinglab.site.inputs import record_run, smoke_run
    built = json.loads(done.read_text())
    results = folder / "inputs" / "results"
    return {"html": folder / "out" / "html", "source": folder / "out" / "source",
            "pages": built["pages"], "papers": built["papers"], "results": results,
            "record_dir": results / RECORD_PROFILE,
            "scorecard_path": results / RECORD_PROFILE / "scorecard.json",
            "build": folder / "inputs" / "build",
            "record_run": record_run(results, RECORD_PROFILE),
            "smoke_run": smoke_run(folder / "inputs" / "build", folder / "inputs")}
