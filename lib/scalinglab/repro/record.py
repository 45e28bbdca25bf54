"""Results of record: the committed outputs that the README and the site show.

``make record`` (``scalinglab record``) runs every notebook at one profile (cpu by
default; gpu on a GPU machine) through the runner, then copies what a reader needs into
``results/<profile>/``::

    results/<profile>/
      record.json                 per paper: date, wall time, machine, the hashes of the
                                  notebook's code, of every library file its kernel
                                  loaded and of the data files
      scorecard.json, scorecard.md
      claims/<paper>.json         the judged claims, as the notebook wrote them
      figures/<paper>/<name>.png  the figures the notebook saved
      notebooks/<paper>.ipynb     the executed notebook, its images moved to files
      notebooks/<paper>/<sha>.png   beside it (text only in the .ipynb, so a re-record
                                  changes few lines)

A record is *stale* when the notebook's code, a library file it used or a data file
changed since; :func:`stale_papers` names them and the command that refreshes them.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from scalinglab.base import paths
from scalinglab.base.profiles import PROFILES, ParameterError, check_choice, profile_rank
from scalinglab.base.provenance import (
    device_name, file_sha256, git_state, package_versions,
)
from scalinglab.repro.claims import (
    Alternative, Criterion, accepts_alternative, follows_rule,
)

RESULTS = "results"
RECORD_FILE = "record.json"
IMAGE_KEY = "scalinglab/image-file"  # output metadata naming the file an image moved to
IMAGE_TYPES = ("image/png", "image/jpeg")


class RecordError(ValueError):
    """A record is missing, malformed or out of date (one-line message)."""


def results_dir(root: Path | None = None) -> Path:
    return Path(root or paths.project_root()) / RESULTS


def recorded_profiles(root: Path | None = None) -> list[str]:
    """Profiles with a record in the project at ``root``, highest first (gpu, then cpu)."""
    return profiles_under(results_dir(root))


def profiles_under(results: str | os.PathLike) -> list[str]:
    """Profiles with a record under the folder ``results``, highest first."""
    base = Path(results)
    found = [p for p in PROFILES if (base / p / RECORD_FILE).is_file()]
    return sorted(found, key=profile_rank, reverse=True)


def read_json_file(path: Path, error: type[Exception], missing: str, shown: str | None = None) -> Any:
    """The JSON in ``path``; ``error(missing)`` when there is no such file, and
    ``error`` naming the file (as ``shown``, default its path) when it is not JSON."""
    if not path.exists():
        raise error(missing)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise error(f"{shown or path} is not valid JSON: {exc}") from None


def read_record(profile: str, root: Path | None = None) -> dict[str, Any]:
    path = results_dir(root) / profile / RECORD_FILE
    data = read_json_file(path, RecordError, f"no record at {path}: run `make record PROFILE={profile}`")
    if not isinstance(data.get("papers"), dict):
        raise RecordError(f"{path} lacks its 'papers' table")
    return data


def machine_info() -> dict[str, Any]:
    """The machine a record was made on, in the words a reader needs."""
    import platform
    return {"platform": f"{platform.system()} {platform.machine()}",
            "cpu": _cpu_model() or device_name("cpu"), "cores": os.cpu_count() or 1,
            "python": platform.python_version()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


# -- what a notebook's result depends on ----------------------------------------------
def notebook_code_hash(notebook: Path) -> str:
    """What the notebook does (cell sources, types, tags), not its stored outputs."""
    from scalinglab.repro.runner import notebook_source_hash
    return notebook_source_hash(notebook)


def data_files_hash(root: Path | None = None) -> str:
    from scalinglab.repro.runner import data_hash
    return data_hash(Path(root or paths.project_root()))


def stale_reasons(entry: Mapping[str, Any], root: Path | None = None) -> list[str]:
    """Why a paper's record no longer describes its code: empty when it does."""
    root = Path(root or paths.project_root())
    paper = entry.get("paper", "?")
    reasons = []
    nb = root / "notebooks" / f"{paper}.ipynb"
    if not nb.exists():
        return [f"notebooks/{paper}.ipynb no longer exists"]
    if notebook_code_hash(nb) != entry.get("notebook_hash"):
        reasons.append(f"notebooks/{paper}.ipynb changed")
    changed = []
    for rel, digest in sorted((entry.get("library_files") or {}).items()):
        path = paths.PACKAGE_DIR / rel
        if not path.exists() or file_sha256(path) != digest:
            changed.append(f"lib/scalinglab/{rel}")
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        reasons.append("library changed: " + ", ".join(changed[:3]) + more)
    if entry.get("data_hash") and data_files_hash(root) != entry["data_hash"]:
        reasons.append("data/ changed")
    if not entry.get("library_files"):
        reasons.append("the record lists no library files")
    return reasons


def stale_papers(profile: str, root: Path | None = None,
                 papers: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{paper: reasons} for every notebook whose record at ``profile`` is missing or out
    of date (all notebooks under notebooks/ unless ``papers`` is given)."""
    from scalinglab.repro.runner import discover
    root = Path(root or paths.project_root())
    try:
        record = read_record(profile, root)["papers"]
    except RecordError:
        record = {}
    wanted = list(papers) if papers else [p.stem for p in discover(folder=root / "notebooks")]
    out = {}
    for paper in wanted:
        if paper not in record:
            out[paper] = ["no record"]
        else:
            reasons = stale_reasons(record[paper], root)
            if reasons:
                out[paper] = reasons
    return out


def refresh_command(papers: Iterable[str], profile: str) -> str:
    cmd = f"make record PAPERS={','.join(sorted(papers))}"
    return cmd if profile == "cpu" else cmd + f" PROFILE={profile}"


# -- trimming executed notebooks ------------------------------------------------------
def compact_png(data: bytes) -> bytes:
    """A PNG re-encoded with a 256-colour palette: plots have few colours, and the file
    is about a quarter of matplotlib's RGBA one. Anything that is not a PNG is kept."""
    import io
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                return data
            small = im.convert("RGBA").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    except (OSError, ValueError):
        return data
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data



def trim_notebook(nb: dict[str, Any], image_dir: Path, link_prefix: str) -> dict[str, Any]:
    """Move image outputs to ``image_dir/<sha256[:16]>.<ext>`` (named by content, so an
    unchanged figure keeps its file), drop widget state and per-cell execution timing;
    the notebook keeps a pointer in each output's metadata."""
    nb = json.loads(json.dumps(nb))
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        meta.pop("papermill", None)
        for out in cell.get("outputs", []) or []:
            data = out.get("data")
            if not data:
                continue
            data.pop("application/vnd.jupyter.widget-view+json", None)
            for mime in IMAGE_TYPES:
                if mime not in data:
                    continue
                raw = data.pop(mime)
                blob = base64.b64decode("".join(raw) if isinstance(raw, list) else raw)
                if mime == "image/png":
                    blob = compact_png(blob)
                ext = "png" if mime == "image/png" else "jpg"
                name = f"{hashlib.sha256(blob).hexdigest()[:16]}.{ext}"
                image_dir.mkdir(parents=True, exist_ok=True)
                target = image_dir / name
                if not target.exists():
                    target.write_bytes(blob)
                out.setdefault("metadata", {})[IMAGE_KEY] = {"mime": mime,
                                                             "path": f"{link_prefix}/{name}"}
    return nb


def load_notebook(path: str | Path) -> dict[str, Any]:
    """Read a recorded notebook with its images put back inline (what nbconvert, myst-nb
    or JupyterLab expect). A missing image file is an error naming it."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            ref = (out.get("metadata") or {}).get(IMAGE_KEY)
            if not ref:
                continue
            image = path.parent / ref["path"]
            if not image.exists():
                raise RecordError(f"{path.name}: image {ref['path']} is missing")
            out.setdefault("data", {})[ref["mime"]] = base64.b64encode(image.read_bytes()).decode()
            del out["metadata"][IMAGE_KEY]
    return nb


# -- checking a record's claims -------------------------------------------------------
def claim_problems(claim: Mapping[str, Any]) -> list[str]:
    """What makes a recorded counted claim one that cannot fail (empty when sound)."""
    if not claim.get("counted", claim.get("kind") != "check"):
        return []
    cid = claim.get("id", "?")
    if claim.get("verdict") == "not testable":
        # never judged, so it cannot pass; it only has to say why
        return [] if str(claim.get("untestable") or "").strip() else [
            f"{cid}: not testable without a reason"]
    alt = claim.get("alternative")
    if not alt:
        return [f"{cid}: counted claim without an alternative"]
    crit = dict(claim.get("criterion") or {})
    try:
        criterion = Criterion(**crit)
    except TypeError:
        return [f"{cid}: unreadable criterion {crit}"]
    problems = []
    if not follows_rule(criterion) and not claim.get("departure"):
        problems.append(f"{cid}: departs from the tolerance rule without saying why")
    alternative = Alternative(float(alt["value"]), str(alt.get("text", "")))
    if criterion.from_alternative:
        # the threshold is the alternative itself; compare with the alternative as stored
        # (rounded to 4 digits), not with the unrounded threshold
        criterion = Criterion(criterion.kind, threshold=alternative.value, from_alternative=True)
    interval = claim.get("ours_interval")
    if criterion.uses_interval:
        if claim.get("verdict") == "reproduced" and accepts_alternative(
                criterion, alternative, interval, claim.get("paper_value"),
                claim.get("paper_interval")):
            problems.append(f"{cid}: reproduced although our interval contains the alternative")
    if accepts_alternative(criterion, alternative, None, claim.get("paper_value"),
                           claim.get("paper_interval")):
        problems.append(f"{cid}: criterion '{criterion.describe()}' accepts its alternative")
    return problems


# -- writing a record -----------------------------------------------------------------
def _write_json(path: Path, data: Any) -> None:
    from scalinglab.repro.runner import write_atomic
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def record_paper(paper: str, profile: str, build: Path, executed: Path, root: Path,
                 outcome: Any = None) -> dict[str, Any]:
    """Copy one successful run into ``results/<profile>/`` and return its record entry."""
    dest = results_dir(root) / profile
    claims_src = build / "claims" / f"{paper}.json"
    sidecar = build / "claims" / f"{paper}.run.json"
    if not claims_src.exists() or not sidecar.exists():
        raise RecordError(f"{paper}: the run left no claims file under {build / 'claims'}")
    run_info = json.loads(sidecar.read_text())
    library = run_info.get("library_files") or {}
    if not library:
        raise RecordError(f"{paper}: the run did not list the library files it used "
                          f"(the notebook must end with run.finish())")
    claims = json.loads(claims_src.read_text())
    problems = [p for c in claims.get("claims", []) for p in claim_problems(c)]
    if problems:
        raise RecordError(f"{paper}: " + "; ".join(problems))
    _write_json(dest / "claims" / f"{paper}.json", claims)
    fig_dst = dest / "figures" / paper
    shutil.rmtree(fig_dst, ignore_errors=True)
    fig_src = build / "figures" / paper
    for png in sorted(fig_src.glob("*.png")) if fig_src.is_dir() else []:
        fig_dst.mkdir(parents=True, exist_ok=True)
        (fig_dst / png.name).write_bytes(compact_png(png.read_bytes()))
    image_dir = dest / "notebooks" / paper
    old_images = set(image_dir.glob("*")) if image_dir.is_dir() else set()
    nb = trim_notebook(json.loads(executed.read_text()), image_dir, paper)
    kept = {image_dir / ref["path"].split("/", 1)[1]
            for cell in nb.get("cells", []) for out in cell.get("outputs", []) or []
            for ref in [(out.get("metadata") or {}).get(IMAGE_KEY)] if ref}
    for stale in old_images - kept:
        stale.unlink()
    from scalinglab.repro.nbfiles import write_notebook
    write_notebook(dest / "notebooks" / f"{paper}.ipynb", nb)
    return {
        "paper": paper, "profile": profile, "title": claims.get("title", ""),
        "citation": claims.get("citation", ""), "counts": claims.get("counts", {}),
        "date": (run_info.get("finished_at") or "")[:10],
        "wall_time_s": run_info.get("wall_time_s"),
        "device": run_info.get("device", ""),
        "notebook_hash": notebook_code_hash(root / "notebooks" / f"{paper}.ipynb"),
        "library_files": library, "data_hash": data_files_hash(root),
        "machine": machine_info(), "packages": package_versions(),
        "commit": git_state().get("commit"),
    }


def scorecard_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's scorecard, in the runner's scorecard.json shape."""
    rows = []
    for paper, e in sorted(record["papers"].items()):
        c = e.get("counts") or {}
        rows.append({
            "paper": paper, "title": e.get("title", ""), "citation": e.get("citation", ""),
            "profile": e.get("profile", record["profile"]), "device": e.get("device", ""),
            "status": "ok", "claims_total": c.get("total", 0), "claims_judged": c.get("judged", 0),
            "claims_reproduced": c.get("reproduced", 0),
            "claims_indicative": c.get("indicative", 0),
            "claims_indicative_would_pass": c.get("indicative_would_pass", 0),
            "checks": c.get("checks", 0), "checks_hold": c.get("checks_hold", 0),
            "wall_time_s": e.get("wall_time_s") or 0.0, "date": e.get("date", ""),
            "notebook": f"notebooks/{paper}.ipynb", "claims_file": f"claims/{paper}.json",
            "error": "", "last_good": None,
        })
    keys = ("claims_total", "claims_judged", "claims_reproduced", "claims_indicative",
            "claims_indicative_would_pass", "checks", "checks_hold")
    totals = {"papers": len(rows), "failed": 0, **{k: sum(r[k] for r in rows) for k in keys}}
    return {"profile": record["profile"], "generated_at": record.get("updated_at", ""),
            "record": True, "totals": totals, "papers": rows}


def scorecard_markdown(card: Mapping[str, Any]) -> str:
    t = card["totals"]
    lines = [f"# Scorecard of record — profile {card['profile']}", "",
             f"{t['claims_reproduced']}/{t['claims_judged']} judged claims reproduced across "
             f"{t['papers']} papers ({t['claims_indicative']} indicative below their profile; "
             f"{t['checks_hold']}/{t['checks']} checks hold, not counted).", "",
             "| paper | reproduced / judged | indicative | checks | recorded | wall time (s) |",
             "|---|---|---|---|---|---|"]
    for p in card["papers"]:
        lines.append(f"| {p['paper']} | {p['claims_reproduced']}/{p['claims_judged']} | "
                     f"{p['claims_indicative']} | {p['checks_hold']}/{p['checks']} | {p['date']} | "
                     f"{p['wall_time_s']:.0f} |")
    return "\n".join(lines) + "\n"


README_START = "<!-- record:start (written by make record) -->"
README_END = "<!-- record:end -->"


def readme_block(cards: Sequence[Mapping[str, Any]]) -> str:
    """The README's scorecard: each recorded profile's table, highest first."""
    parts = []
    for card in cards:
        body = scorecard_markdown(card).split("\n", 2)[2]  # without the heading
        parts.append(f"**Profile {card['profile']}** (`results/{card['profile']}/`): " + body)
    return README_START + "\n" + "\n".join(parts) + README_END


def update_readme(root: Path | None = None) -> bool:
    """Rewrite the marked scorecard block of README.md from the records; False when the
    README has no such block."""
    root = Path(root or paths.project_root())
    readme = root / "README.md"
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    cards = [json.loads((results_dir(root) / p / "scorecard.json").read_text())
             for p in recorded_profiles(root)]
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = head + readme_block(cards) + tail
    if new != text:
        readme.write_text(new)
    return True


def record(papers: Sequence[str] | None = None, profile: str | None = None,
           root: Path | None = None, **reproduce_kwargs: Any) -> int:
    """Run the notebooks at ``profile`` and record the successful ones. Returns the
    number of notebooks that failed (their earlier record, if any, stays)."""
    from scalinglab.repro import runner
    from scalinglab.base.profiles import cuda_available
    root = Path(root or paths.project_root())
    profile = profile or ("gpu" if cuda_available() else "cpu")
    check_choice("profile", profile, PROFILES)
    if profile == "ci":
        raise ParameterError("the ci profile is a smoke test, not a record: "
                             "use PROFILE=cpu (or gpu on a GPU machine)")
    outcomes = runner.reproduce(papers=papers, profile=profile, root=root, **reproduce_kwargs)
    build = root / "build" / profile
    dest = results_dir(root) / profile
    try:
        rec = read_record(profile, root)
    except RecordError:
        rec = {"profile": profile, "papers": {}}
    failed = 0
    for o in outcomes:
        paper = o.paper
        if o.status not in ("ok", "cached") or not o.notebook:
            failed += 1
            print(f"record: {paper} failed; its earlier record (if any) is kept")
            continue
        try:
            entry = record_paper(paper, profile, build, root / o.notebook, root)
        except RecordError as exc:
            failed += 1
            print(f"record: {exc}; not recorded")
            continue
        rec["papers"][paper] = entry
        print(f"record: {paper} recorded under {RESULTS}/{profile}/")
    rec["updated_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    _write_json(dest / RECORD_FILE, rec)
    card = scorecard_from_record(rec)
    _write_json(dest / "scorecard.json", card)
    (dest / "scorecard.md").write_text(scorecard_markdown(card))
    update_readme(root)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"record: {RESULTS}/{profile}/ holds {len(rec['papers'])} papers, "
          f"{size / 1e6:.1f} MB")
    return failed
