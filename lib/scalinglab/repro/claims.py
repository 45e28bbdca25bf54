"""Claims and the per-paper scorecard.

A claim puts a paper's number (with its source) beside ours (with an interval when we
have one) and a criterion; the verdict is computed, never given. Without a computed
value a claim is "not reproduced", whatever the criterion says.

    card = Scorecard("kaplan2020_neural_lm", profile="cpu")
    card.add("alpha_N", "L(N) is a power law in non-embedding parameters",
             paper_value=0.076, paper_source="Kaplan et al. 2020, Eq. 1.1",
             ours=fit.params["alpha"], ours_interval=fit.intervals["alpha"],
             criterion=within(rel=0.5), min_profile="cpu", kind="rerun")
"""
from __future__ import annotations

import html
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from scalinglab.repro.profiles import PROFILES, ParameterError, check_choice, profile_rank

VERDICTS = ("reproduced", "not reproduced", "indicative")
KINDS = ("refit", "rerun")


def round_sig(x: float | None, digits: int = 4) -> float | None:
    """Round to significant digits, so stored values are stable across machines whose
    floating-point reductions differ in the last bits."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x) or x == 0.0:
        return x
    return float(f"{x:.{digits - 1}e}")


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Criterion:
    """How ours is judged. ``kind`` is one of: within (|ours - paper| <= abs or
    <= rel*|paper|), contains_paper (paper value inside our interval), in_range (ours in
    [lo, hi], e.g. the paper's confidence interval), greater_than / less_than (ours
    against a threshold)."""

    kind: str
    abs: float | None = None
    rel: float | None = None
    lo: float | None = None
    hi: float | None = None
    threshold: float | None = None

    def describe(self) -> str:
        if self.kind == "within":
            parts = []
            if self.abs is not None:
                parts.append(f"±{self.abs:g}")
            if self.rel is not None:
                parts.append(f"±{self.rel:.0%}")
            return "within " + " or ".join(parts) + " of the paper"
        if self.kind == "contains_paper":
            return "paper value inside our interval"
        if self.kind == "in_range":
            return f"ours in [{self.lo:g}, {self.hi:g}]"
        if self.kind == "greater_than":
            return f"ours > {self.threshold:g}"
        if self.kind == "less_than":
            return f"ours < {self.threshold:g}"
        raise ValueError(f"unknown criterion kind {self.kind!r}")

    def passes(self, ours: float | None, interval: Sequence[float] | None,
               paper: float | None) -> tuple[bool, str]:
        """(passed, reason). A missing value never passes."""
        if not _finite(ours):
            return False, "no computed value"
        ours = float(ours)
        if self.kind == "within":
            if not _finite(paper):
                return False, "criterion needs a paper value"
            err = abs(ours - float(paper))
            ok = (self.abs is not None and err <= self.abs) or (
                self.rel is not None and err <= self.rel * abs(float(paper)))
            return bool(ok), f"|ours - paper| = {err:.3g}"
        if self.kind == "contains_paper":
            if not interval or not all(_finite(v) for v in interval):
                return False, "no interval for ours"
            if not _finite(paper):
                return False, "criterion needs a paper value"
            lo, hi = float(interval[0]), float(interval[1])
            return bool(lo <= float(paper) <= hi), ""
        if self.kind == "in_range":
            return bool(self.lo <= ours <= self.hi), ""
        if self.kind == "greater_than":
            return bool(ours > self.threshold), ""
        if self.kind == "less_than":
            return bool(ours < self.threshold), ""
        raise ValueError(f"unknown criterion kind {self.kind!r}")


def within(abs: float | None = None, rel: float | None = None) -> Criterion:
    if abs is None and rel is None:
        raise ValueError("within() needs abs=, rel= or both")
    return Criterion("within", abs=abs, rel=rel)


def contains_paper() -> Criterion:
    return Criterion("contains_paper")


def in_range(lo: float, hi: float) -> Criterion:
    if not lo <= hi:
        raise ValueError(f"in_range needs lo <= hi, got {lo}, {hi}")
    return Criterion("in_range", lo=lo, hi=hi)


def greater_than(threshold: float) -> Criterion:
    return Criterion("greater_than", threshold=threshold)


def less_than(threshold: float) -> Criterion:
    return Criterion("less_than", threshold=threshold)


@dataclass
class Claim:
    id: str
    statement: str
    paper_value: float | None
    paper_source: str
    ours: float | None
    criterion: Criterion
    ours_interval: tuple[float, float] | None = None
    paper_interval: tuple[float, float] | None = None
    min_profile: str = "ci"
    kind: str = "rerun"
    unit: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    # computed
    verdict: str = ""
    passes: bool = False
    reason: str = ""

    def judge(self, profile: str) -> "Claim":
        ok, reason = self.criterion.passes(self.ours, self.ours_interval, self.paper_value)
        self.passes, self.reason = ok, reason
        # Below its profile a claim is only indicative, with or without a value (a value
        # the small grid cannot determine is "would fail", not a judged miss).
        if profile_rank(profile) < profile_rank(self.min_profile):
            self.verdict = "indicative"
        elif not _finite(self.ours):
            self.verdict = "not reproduced"
        else:
            self.verdict = "reproduced" if ok else "not reproduced"
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["criterion"] = {k: v for k, v in asdict(self.criterion).items() if v is not None}
        d["criterion_text"] = self.criterion.describe()
        d["tags"] = list(self.tags)
        for key in ("ours_interval", "paper_interval"):
            if d[key] is not None:
                d[key] = [round_sig(v) for v in d[key]]
        d["ours"] = round_sig(self.ours) if _finite(self.ours) else None
        d["paper_value"] = round_sig(self.paper_value) if _finite(self.paper_value) else None
        return d


def _fmt(x: float | None) -> str:
    if not _finite(x):
        return "—"
    x = float(x)
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _fmt_interval(iv: Sequence[float] | None) -> str:
    if not iv:
        return ""
    return f"[{_fmt(iv[0])}, {_fmt(iv[1])}]"


class Scorecard:
    """The claims of one paper, judged at one profile."""

    def __init__(self, paper: str, profile: str, title: str = "", citation: str = ""):
        check_choice("profile", profile, PROFILES)
        self.paper, self.profile, self.title, self.citation = paper, profile, title, citation
        self.claims: list[Claim] = []

    def add(self, id: str, statement: str, *, paper_value: float | None, paper_source: str,
            ours: float | None, criterion: Criterion,
            ours_interval: Sequence[float] | None = None,
            paper_interval: Sequence[float] | None = None, min_profile: str = "ci",
            kind: str = "rerun", unit: str = "", note: str = "",
            tags: Sequence[str] = ()) -> Claim:
        if any(c.id == id for c in self.claims):
            raise ParameterError(f"claim id {id!r} is used twice in {self.paper}")
        check_choice("min_profile", min_profile, PROFILES)
        check_choice("kind", kind, KINDS)
        if not paper_source:
            raise ParameterError(f"claim {id!r} needs the paper's source (table, figure, equation)")
        claim = Claim(
            id=id, statement=statement,
            paper_value=None if paper_value is None else float(paper_value),
            paper_source=paper_source,
            ours=float(ours) if _finite(ours) else None, criterion=criterion,
            ours_interval=tuple(map(float, ours_interval)) if ours_interval is not None else None,
            paper_interval=tuple(map(float, paper_interval)) if paper_interval is not None else None,
            min_profile=min_profile, kind=kind, unit=unit, note=note, tags=tuple(tags),
        ).judge(self.profile)
        self.claims.append(claim)
        return claim

    # -- summaries ---------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        judged = [c for c in self.claims if c.verdict != "indicative"]
        return {
            "total": len(self.claims),
            "judged": len(judged),
            "reproduced": sum(c.verdict == "reproduced" for c in judged),
            "indicative": len(self.claims) - len(judged),
        }

    def summary_line(self) -> str:
        c = self.counts()
        line = f"{self.paper}: {c['reproduced']}/{c['judged']} claims reproduced at profile {self.profile}"
        if c["indicative"]:
            line += f" ({c['indicative']} indicative below their profile)"
        return line

    def to_dict(self, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
        d = {"paper": self.paper, "title": self.title, "citation": self.citation,
             "profile": self.profile, "counts": self.counts(),
             "claims": [c.to_dict() for c in self.claims]}
        if provenance is not None:
            d["provenance"] = provenance
        return d

    def save(self, out_dir: str | os.PathLike, provenance: dict[str, Any] | None = None) -> Path:
        """Write ``out_dir/claims/<paper>.json`` atomically (sorted keys: byte-stable)."""
        path = Path(out_dir) / "claims" / f"{self.paper}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(provenance), indent=2, sort_keys=True,
                                  ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return path

    # -- display -----------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        return [{
            "claim": c.id, "statement": c.statement,
            "paper": _fmt(c.paper_value) + (f" {_fmt_interval(c.paper_interval)}" if c.paper_interval else ""),
            "source": c.paper_source,
            "ours": _fmt(c.ours) + (f" {_fmt_interval(c.ours_interval)}" if c.ours_interval else ""),
            "criterion": c.criterion.describe(),
            "min profile": c.min_profile,
            "verdict": c.verdict + (" (would pass)" if c.verdict == "indicative" and c.passes else
                                    " (would fail)" if c.verdict == "indicative" else ""),
            "note": c.note or c.reason if c.verdict != "reproduced" else c.note,
        } for c in self.claims]

    def __repr__(self) -> str:
        lines = [self.summary_line()]
        for r in self.rows():
            lines.append(f"  [{r['verdict']}] {r['claim']}: paper {r['paper']} ({r['source']}); "
                         f"ours {r['ours']}; {r['criterion']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "indicative": "#9a6700"}
        head = "".join(f"<th>{html.escape(h)}</th>" for h in
                       ("claim", "statement", "paper", "source", "ours", "criterion",
                        "min profile", "verdict", "note"))
        body = []
        for c, r in zip(self.claims, self.rows()):
            cells = [r["claim"], r["statement"], r["paper"], r["source"], r["ours"],
                     r["criterion"], r["min profile"]]
            tds = "".join(f"<td>{html.escape(v)}</td>" for v in cells)
            tds += (f'<td style="color:{colour[c.verdict]};font-weight:600">'
                    f"{html.escape(r['verdict'])}</td><td>{html.escape(r['note'])}</td>")
            body.append(f"<tr>{tds}</tr>")
        return (f'<p><strong>{html.escape(self.summary_line())}</strong></p>'
                f'<table class="scalinglab-scorecard"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>")
