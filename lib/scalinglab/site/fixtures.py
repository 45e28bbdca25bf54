"""Small site inputs made from nothing: executed notebooks, claims files, a scorecard and
a catalogue with the shapes ``make reproduce`` writes. The site tests build from them,
so checking the site needs no full reproduction; ``python -m scalinglab.site demo``
builds a demo site from them too.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from scalinglab.site.catalogue import Paper

PROFILE = "ci"


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


def _claim(cid: str, statement: str, paper_value: float | None, ours: float | None,
           verdict: str, tags: list[str], interval: list[float] | None = None,
           paper_interval: list[float] | None = None) -> dict[str, Any]:
    return {"id": cid, "statement": statement, "kind": "rerun", "paper_value": paper_value,
            "paper_source": "Fixture et al., Table 1", "paper_interval": paper_interval,
            "ours": ours, "ours_interval": interval, "criterion": {"kind": "within", "rel": 0.3},
            "criterion_text": "within ±30% of the paper", "min_profile": "ci", "verdict": verdict,
            "passes": verdict == "reproduced", "reason": "", "note": "", "unit": "", "tags": tags}


def _provenance(seed: int = 0) -> dict[str, Any]:
    return {"git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
            "scalinglab": "0.1.0", "library_sha256": "ab" * 32,
            "packages": {"numpy": "2.4.6", "torch": "2.13.0"}, "python": "3.11.7",
            "platform": "Linux x86_64", "device": "cpu", "device_name": "x86_64", "threads": 1,
            "seed": seed, "profile": PROFILE}


PAPERS = [
    # paper id, title, status, claims (id, statement, paper, ours, verdict, tags, interval)
    ("fixture2020_power", "Power Laws in a Fixture", "ok", [
        ("alpha_N", "Loss falls as a power law in parameters", 0.076, 0.081, "reproduced",
         ["exponent"], [0.07, 0.09]),
        ("alpha_D", "Loss falls as a power law in data", 0.095, 0.21, "not reproduced",
         ["exponent"], [0.18, 0.25]),
        ("compute", "Compute is about 6ND", 6.0, 6.1, "reproduced", [], None),
    ]),
    ("fixture2021_theory", "A Solvable Fixture of Scaling", "cached", [
        ("slope", "The test error slope equals the spectrum exponent", 0.5, 0.52, "reproduced",
         ["exponent"], [0.47, 0.57]),
        ("plateau", "A finite spectrum gives a plateau", 1.0, 1.0, "indicative", [], None),
    ]),
    ("fixture2022_broken", "A Fixture That Fails", "failed", []),
]


def make_fixture_inputs(folder: str | Path) -> dict[str, Any]:
    """Write the inputs under ``folder``; return the paths and the catalogue."""
    folder = Path(folder)
    notebooks = folder / "build" / "notebooks" / PROFILE
    claims_dir = folder / "build" / PROFILE / "claims"
    notebooks.mkdir(parents=True, exist_ok=True)
    claims_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (paper, title, status, claims) in enumerate(PAPERS):
        claim_dicts = [_claim(c[0], c[1], c[2], c[3], c[4], c[5], c[6]) for c in claims]
        judged = [c for c in claim_dicts if c["verdict"] != "indicative"]
        counts = {"total": len(claim_dicts), "judged": len(judged),
                  "reproduced": sum(c["verdict"] == "reproduced" for c in judged),
                  "indicative": len(claim_dicts) - len(judged)}
        claims_file = ""
        if status != "failed":
            path = claims_dir / f"{paper}.json"
            path.write_text(json.dumps({
                "paper": paper, "title": title, "citation": f"Fixture et al. {2020 + i}",
                "profile": PROFILE, "counts": counts, "claims": claim_dicts,
                "provenance": _provenance()}, indent=2))
            claims_file = f"build/{PROFILE}/claims/{paper}.json"
        cells = [
            _md(f"# {title}\n\nFixture et al. {2020 + i}, arXiv:2001.0836{i}.\n\n"
                "The paper claims that the loss follows $L(N) = (N_c/N)^{\\alpha_N}$ and\n\n"
                "$$C \\approx 6ND.$$"),
            _code('profile: str = "ci"  # ci|cpu|gpu\nseed: int = 0  # seed', [], 1, ["parameters"]),
            _code("run = sl.start(...)\nrun", [_stream(f"{paper} · profile ci · device cpu · seed 0\n")], 2),
            _md("## Fit\n\nThe fit prints its choices."),
            _code("fit = fit_power_law(x, y)", [_stream("fit power: A·x^(−alpha) · 12 points · loss lsq\n")], 3),
            _md("## Figures"),
        ]
        if status == "failed":
            cells.append(_code("raise RuntimeError('the sweep diverged')", [{
                "output_type": "error", "ename": "RuntimeError", "evalue": "the sweep diverged",
                "traceback": ["RuntimeError: the sweep diverged"]}], 4))
        else:
            cells.append(_code("fig = plot(); run.savefig(fig, 'loss')", [{
                "output_type": "display_data", "metadata": {},
                "data": {"image/png": _png(title, 0.08 + 0.4 * i), "text/plain": "<Figure size 320x224>"},
            }], 4))
            table = "".join(f"<tr><td>{c['id']}</td><td>{c['verdict']}</td></tr>" for c in claim_dicts)
            cells += [_md("## Scorecard"), _code("run.finish()", [{
                "output_type": "execute_result", "execution_count": 5, "metadata": {},
                "data": {"text/html": f"<table class='scalinglab-scorecard'>{table}</table>",
                         "text/plain": f"{paper}: scorecard"}}], 5)]
        nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "scalinglab": {"paper": paper, "profile": PROFILE, "device": "cpu",
                           "wall_time_s": 12.5 + i, "started_at": "2026-01-02T03:04:05+00:00",
                           "finished_at": "2026-01-02T03:04:18+00:00", "provenance": _provenance()}}}
        for j, cell in enumerate(nb["cells"]):
            cell["id"] = f"c{j}"
        (notebooks / f"{paper}.ipynb").write_text(json.dumps(nb, indent=1))
        rows.append({
            "paper": paper, "title": title if status != "failed" else "",
            "citation": f"Fixture et al. {2020 + i}" if status != "failed" else "",
            "profile": PROFILE, "device": "cpu", "status": status,
            "claims_total": counts["total"], "claims_judged": counts["judged"],
            "claims_reproduced": counts["reproduced"], "claims_indicative": counts["indicative"],
            "wall_time_s": 12.5 + i, "date": "2026-01-02",
            "notebook": f"build/notebooks/{PROFILE}/{paper}.ipynb", "claims_file": claims_file,
            "error": "RuntimeError: the sweep diverged" if status == "failed" else ""})
    totals = {"papers": len(rows),
              "claims_total": sum(r["claims_total"] for r in rows),
              "claims_judged": sum(r["claims_judged"] for r in rows),
              "claims_reproduced": sum(r["claims_reproduced"] for r in rows),
              "claims_indicative": sum(r["claims_indicative"] for r in rows),
              "failed": sum(r["status"] == "failed" for r in rows)}
    scorecard = folder / "build" / "scorecard.json"
    scorecard.write_text(json.dumps({"profile": PROFILE, "generated_at": "2026-01-02T03:05:00+00:00",
                                     "totals": totals, "papers": rows}, indent=2))
    catalogue = [
        Paper(id=p, title=t, year=2020 + i, arxiv=f"2001.0836{i}", category="A1",
              topic="theory-solvable" if i == 1 else "lm-compute-optimal",
              notebook=f"{p}.ipynb", status="reproduced", reason="fixture notebook", source="added")
        for i, (p, t, _, _) in enumerate(PAPERS)
    ] + [
        Paper(id="planned-vision-paper", title="Scaling Vision Fixtures", year=2023, arxiv=None,
              category="B", topic="vision", notebook=None, status="planned",
              reason="needs large compute"),
        Paper(id="some-model-report", title="A Model Technical Report", year=None, arxiv=None,
              category="C", topic="model report", notebook=None, status="out of scope",
              reason="model technical report, no scaling law"),
        Paper(id="some-method", title="A Method That Scales", year=2019, arxiv="1901.00001",
              category="C", topic="method", notebook=None, status="out of scope",
              reason="training method, no scaling law"),
    ]
    return {"root": folder, "notebooks_dir": notebooks, "scorecard_path": scorecard,
            "claims_dir": claims_dir, "catalogue": catalogue}
