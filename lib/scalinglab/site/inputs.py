"""What the site is built from: the scorecard, the claims files and the executed
notebooks of one run, read into plain typed records.

Two kinds of run feed the site (:class:`Run`):

- the *record*: ``results/<profile>/`` written by ``make record`` (scorecard.json,
  claims/<paper>.json, notebooks/<paper>.ipynb with their images in files beside them);
  the site shows the highest recorded profile (gpu, then cpu);
- the *smoke test*: the ci run of ``make reproduce PROFILE=ci`` under ``build/``
  (``build/ci/scorecard.json``, ``build/ci/claims``, ``build/notebooks/ci``), shown on a
  page of its own, labelled as such, never as the result.

Nothing here computes a verdict: the site shows what the notebooks judged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.repro.record import RECORD_FILE, profiles_under, read_json_file


# papermill marks the banner it puts on top of a failed notebook, and the anchor it puts
# before the failing cell, with this tag
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"


class SiteInputError(ValueError):
    """An input of the site build is missing or malformed (one-line message)."""


@dataclass
class ScorecardRow:
    paper: str
    title: str
    citation: str
    profile: str
    device: str
    status: str
    claims_total: int
    claims_judged: int
    claims_reproduced: int
    claims_indicative: int
    wall_time_s: float
    date: str
    notebook: str
    claims_file: str
    error: str
    checks: int = 0
    checks_hold: int = 0
    # how many indicative claims would pass; None when neither the scorecard nor the
    # paper's claims file says (filled in from the claims file by the site build)
    indicative_would_pass: int | None = None


@dataclass
class Scorecard:
    profile: str
    generated_at: str
    totals: dict[str, int]
    papers: list[ScorecardRow]
    record: bool = False  # results of record (results/<profile>/), not a build/ run
    path: Path | None = None

    def row(self, paper: str) -> ScorecardRow | None:
        return next((r for r in self.papers if r.paper == paper), None)


TOTAL_KEYS = ("papers", "claims_total", "claims_judged", "claims_reproduced",
              "claims_indicative")
# shown when the scorecard has them (a record has no failed notebook; older scorecards
# have no checks)
OPTIONAL_TOTAL_KEYS = ("failed", "checks", "checks_hold")


def read_scorecard(path: str | Path) -> Scorecard:
    path = Path(path)
    data = read_json_file(path, SiteInputError, f"no scorecard at {path}: run `make reproduce` first",
                          shown=path.name)
    for key in ("profile", "totals", "papers"):
        if key not in data:
            raise SiteInputError(f"{path.name} lacks the field {key!r}")
    missing = [k for k in TOTAL_KEYS if k not in data["totals"]]
    if missing:
        raise SiteInputError(f"{path.name}: totals lack {', '.join(missing)}")
    rows = []
    for i, entry in enumerate(data["papers"]):
        try:
            rows.append(ScorecardRow(
                paper=str(entry["paper"]), title=entry.get("title") or "",
                citation=entry.get("citation") or "", profile=entry.get("profile") or data["profile"],
                device=entry.get("device") or "", status=entry.get("status") or "",
                claims_total=int(entry.get("claims_total", 0)),
                claims_judged=int(entry.get("claims_judged", 0)),
                claims_reproduced=int(entry.get("claims_reproduced", 0)),
                claims_indicative=int(entry.get("claims_indicative", 0)),
                wall_time_s=float(entry.get("wall_time_s") or 0.0), date=entry.get("date") or "",
                notebook=entry.get("notebook") or "", claims_file=entry.get("claims_file") or "",
                error=entry.get("error") or "", checks=int(entry.get("checks") or 0),
                checks_hold=int(entry.get("checks_hold") or 0),
                indicative_would_pass=(None if entry.get("claims_indicative_would_pass") is None
                                       else int(entry["claims_indicative_would_pass"]))))
        except (KeyError, TypeError, ValueError) as exc:
            raise SiteInputError(f"{path.name}: paper entry {i + 1} is malformed ({exc})") from None
    totals = {k: int(data["totals"][k]) for k in TOTAL_KEYS}
    totals.update({k: int(data["totals"][k]) for k in OPTIONAL_TOTAL_KEYS if k in data["totals"]})
    return Scorecard(profile=data["profile"], generated_at=data.get("generated_at", ""),
                     totals=totals, papers=rows, record=bool(data.get("record")), path=path)


@dataclass
class ClaimRecord:
    paper: str
    id: str
    statement: str
    kind: str
    paper_value: float | None
    paper_source: str
    paper_interval: tuple[float, float] | None
    ours: float | None
    ours_interval: tuple[float, float] | None
    criterion_text: str
    min_profile: str
    verdict: str
    note: str
    reason: str
    unit: str
    tags: tuple[str, ...]
    counted: bool = True  # refit, rerun, theory; a check is shown but never counted
    passes: bool = False  # for an indicative claim: whether it would pass
    alternative: tuple[float | None, str] | None = None  # (value, what it stands for)
    departure: str = ""  # why the criterion departs from the tolerance rule
    follows_rule: bool = True

    @property
    def verdict_text(self) -> str:
        """The verdict as the scorecard says it: an indicative claim says whether it
        would pass."""
        if self.verdict == "indicative":
            return "indicative (would pass)" if self.passes else "indicative (would fail)"
        return self.verdict


@dataclass
class Claims:
    paper: str
    title: str
    citation: str
    profile: str
    counts: dict[str, int]
    claims: list[ClaimRecord]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def counted(self) -> list[ClaimRecord]:
        return [c for c in self.claims if c.counted]

    @property
    def checks(self) -> list[ClaimRecord]:
        return [c for c in self.claims if not c.counted]

    @property
    def would_pass(self) -> int:
        """Indicative counted claims that would pass (the file's count when it has one)."""
        if "indicative_would_pass" in self.counts:
            return int(self.counts["indicative_would_pass"])
        return sum(c.passes for c in self.counted if c.verdict == "indicative")


def _interval(value: Any) -> tuple[float, float] | None:
    if not value or len(value) != 2 or any(v is None for v in value):
        return None
    return float(value[0]), float(value[1])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _alternative(value: Any) -> tuple[float | None, str] | None:
    if not value:
        return None
    if isinstance(value, dict):
        return _number(value.get("value")), str(value.get("text") or "")
    return _number(value[0]), str(value[1])


def read_claims(path: str | Path) -> Claims:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        claims = [ClaimRecord(
            paper=data["paper"], id=c["id"], statement=c.get("statement", ""), kind=c.get("kind", ""),
            paper_value=_number(c.get("paper_value")), paper_source=c.get("paper_source", ""),
            paper_interval=_interval(c.get("paper_interval")), ours=_number(c.get("ours")),
            ours_interval=_interval(c.get("ours_interval")),
            criterion_text=c.get("criterion_text", ""), min_profile=c.get("min_profile", ""),
            verdict=c.get("verdict", ""), note=c.get("note") or "", reason=c.get("reason") or "",
            unit=c.get("unit") or "", tags=tuple(c.get("tags") or ()),
            counted=bool(c.get("counted", c.get("kind") != "check")),
            passes=bool(c.get("passes")), alternative=_alternative(c.get("alternative")),
            departure=c.get("departure") or "", follows_rule=bool(c.get("follows_rule", True)),
        ) for c in data.get("claims", [])]
        return Claims(paper=data["paper"], title=data.get("title", ""),
                      citation=data.get("citation", ""), profile=data.get("profile", ""),
                      counts=dict(data.get("counts", {})), claims=claims,
                      provenance=dict(data.get("provenance") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SiteInputError(f"claims file {path.name} is unreadable or malformed ({exc})") from None


@dataclass
class ExecutedNotebook:
    paper: str
    path: Path
    notebook: dict[str, Any]
    run: dict[str, Any]  # metadata["scalinglab"]: profile, device, wall time, provenance

    @property
    def title(self) -> str:
        """The text of the first H1 of the first markdown cell, if any."""
        for cell in self.notebook.get("cells", []):
            if cell.get("cell_type") != "markdown" or PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            for line in source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            return ""
        return ""


def load_notebook(path: Path) -> dict[str, Any]:
    """An executed notebook with its images inline: a recorded notebook keeps them in
    files beside it (:func:`scalinglab.repro.record.load_notebook` puts them back)."""
    from scalinglab.repro.record import load_notebook as load_recorded
    return load_recorded(path)


def read_notebooks(folder: str | Path, hint: str = "run `make reproduce` for this profile first"
                   ) -> list[ExecutedNotebook]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SiteInputError(f"no executed notebooks in {folder}: {hint}")
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.startswith((".", "_")):
            continue
        try:
            nb = load_notebook(path)
        except ValueError as exc:  # invalid JSON, or a RecordError naming a missing image
            raise SiteInputError(f"executed notebook {path.name} is unreadable: {exc}") from None
        found.append(ExecutedNotebook(paper=path.stem, path=path, notebook=nb,
                                      run=dict(nb.get("metadata", {}).get("scalinglab") or {})))
    return found


# --------------------------------------------------------------------------- runs
SMOKE_PROFILE = "ci"


@dataclass
class Run:
    """One set of executed notebooks with their scorecard and claims.

    ``kind`` is "record" (results/<profile>/, the result the site shows) or "smoke" (the
    ci run under build/, a smoke test). ``root`` is what the scorecard's relative paths
    (``notebook``, ``claims_file``) start from."""

    kind: str
    profile: str
    scorecard_path: Path
    notebooks_dir: Path
    claims_dir: Path
    root: Path
    record_path: Path | None = None  # results/<profile>/record.json

    @property
    def is_record(self) -> bool:
        return self.kind == "record"

    def scorecard(self) -> Scorecard:
        if self.is_record and not self.scorecard_path.exists():
            raise SiteInputError(f"no scorecard at {self.scorecard_path}: run "
                                 f"`make record PROFILE={self.profile}`")
        card = read_scorecard(self.scorecard_path)
        if card.profile != self.profile:
            raise SiteInputError(f"{self.scorecard_path} holds the {card.profile} profile, "
                                 f"not {self.profile}")
        if self.is_record:
            card.record = True
        return card

    def notebooks(self) -> list[ExecutedNotebook]:
        hint = (f"run `make record PROFILE={self.profile}`" if self.is_record
                else "run `make reproduce PROFILE=ci`")
        return read_notebooks(self.notebooks_dir, hint=hint)

    def record_entries(self) -> dict[str, dict[str, Any]]:
        """record.json's entry per paper (date, machine, commit), empty for a smoke run."""
        if not self.record_path or not self.record_path.is_file():
            return {}
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SiteInputError(f"{self.record_path} is not valid JSON: {exc}") from None
        papers = data.get("papers")
        return dict(papers) if isinstance(papers, dict) else {}


def record_run(results: str | Path, profile: str) -> Run:
    """The record of ``profile`` under ``results`` (the project's results/ folder)."""
    folder = Path(results) / profile
    return Run(kind="record", profile=profile, scorecard_path=folder / "scorecard.json",
               notebooks_dir=folder / "notebooks", claims_dir=folder / "claims", root=folder,
               record_path=folder / RECORD_FILE)


def smoke_run(build: str | Path, root: str | Path | None = None) -> Run:
    """The ci run under ``build`` (the project's build/ folder); ``root`` is what the
    runner's scorecard paths start from (the project root, build's parent)."""
    build = Path(build)
    return Run(kind="smoke", profile=SMOKE_PROFILE,
               scorecard_path=build / SMOKE_PROFILE / "scorecard.json",
               notebooks_dir=build / "notebooks" / SMOKE_PROFILE,
               claims_dir=build / SMOKE_PROFILE / "claims", root=Path(root) if root else build.parent)


def recorded_profiles(results: str | Path) -> list[str]:
    """Profiles with a record under ``results``, highest first (gpu, then cpu)."""
    return profiles_under(results)


def resolve_runs(results: str | Path, build: str | Path, profile: str | None = None,
                 root: str | Path | None = None) -> tuple[Run | None, Run | None]:
    """(record, smoke): the record of ``profile`` (default: the highest recorded one)
    and the ci run when there is one. Raises SiteInputError, in one line naming the
    command to run, when there is neither (or the requested profile has no record)."""
    profiles = recorded_profiles(results)
    record = None
    if profile:
        if profile not in profiles:
            have = f" (recorded: {', '.join(profiles)})" if profiles else ""
            raise SiteInputError(f"no record of the {profile} profile under {results}{have}: "
                                 f"run `make record PROFILE={profile}`")
        record = record_run(results, profile)
    elif profiles:
        record = record_run(results, profiles[0])
    smoke = smoke_run(build, root)
    if not (smoke.scorecard_path.is_file() and smoke.notebooks_dir.is_dir()):
        smoke = None
    if record is None and smoke is None:
        raise SiteInputError(f"no results of record under {results} and no ci run under {build}: "
                             "run `make record` (or `make reproduce PROFILE=ci` for a smoke-test site)")
    return record, smoke
