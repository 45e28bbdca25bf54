"""Claims and the per-paper scorecard.

A claim puts a paper's number (with its source) beside ours (with an interval when we
have one) and a criterion; the verdict is computed, never given. Without a computed
value a claim is "not reproduced", whatever the criterion says.

    card = Scorecard("kaplan2020_neural_lm", profile="cpu")
    card.add("alpha_N", "L(N) is a power law in non-embedding parameters",
             paper_value=0.076, paper_source="Kaplan et al. 2020, Eq. 1.1",
             ours=fit.params["alpha"], ours_interval=fit.intervals["alpha"],
             criterion=matches(), alternative=(0.0, "no dependence on N"),
             min_profile="cpu", kind="rerun")

Kinds. ``refit`` (published data), ``rerun`` (our own small runs) and ``theory`` (a
closed form or asymptotic against our simulation) count toward the scorecard. A
``check`` (bookkeeping, a closed form on typed constants, an identity true by
construction) is shown but never counted; its verdict is "holds" or "fails".

Alternatives. Every counted claim names the plausible outcome that would mean "not
reproduced" (the rival paper's value, no effect, the other sign, a plain power law). A
criterion that does not depend on our interval must reject it, or :meth:`Scorecard.add`
refuses the claim; one that does (``agrees``, ``contains_paper``) fails when our
interval also contains the alternative: the data could not tell them apart.

Tolerances follow one rule per criterion type (:data:`RULES`, the claims methods page):

- ``agrees()`` (refit): the paper's value inside our bootstrap interval, or ours inside
  the paper's stated uncertainty (``paper_interval``);
- ``matches()`` (rerun, theory): within a relative tolerance set by the profile's range
  (:data:`RERUN_REL_TOL`) for reruns; within ±0.1 for a theory exponent
  (:data:`THEORY_EXPONENT_ABS_TOL`) or ±10% for another theory quantity;
- ``greater_than()`` / ``less_than()`` without a threshold: ours beyond the alternative's
  value, and with an interval, the whole interval beyond it (the margin must be wider
  than our own uncertainty).

Not testable. A counted claim that the released data cannot decide either way (the
variable it is about does not vary independently in them, say) is added with
``untestable="why"``: it is shown as *not testable*, with the reason, and is neither
judged nor counted as reproduced.

Any other criterion (``within``, ``in_range``, a typed threshold) departs from the rule
and a counted claim using one must say why in ``departure=``.
"""
from __future__ import annotations

import html
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from scalinglab.base.profiles import PROFILES, ParameterError, check_choice, profile_rank

VERDICTS = ("reproduced", "not reproduced", "indicative", "not testable", "holds", "fails")
KINDS = ("refit", "rerun", "theory", "check")
COUNTED_KINDS = ("refit", "rerun", "theory")

# Relative tolerance on a rerun exponent or ratio, by profile. It narrows with the range
# of scales a profile's grid spans: the ci grid spans well under a decade, cpu about one
# to two, gpu two to three. Wider than the exponent's own scatter between papers
# (Kaplan's and Hoffmann's model-size exponents differ by about 30%) would make a claim
# unable to tell the paper from its rival, which the alternative check then refuses.
RERUN_REL_TOL = {"ci": 0.5, "cpu": 0.3, "gpu": 0.2}
# A theory exponent against our simulation: ±0.1, our rule (the fact sheet suggests it for
# Bahri et al. 2021's alpha_D = alpha_P = alpha_K, marked unverified; a fitted slope over
# one to two decades of simulation scatters by a few hundredths); another theory
# quantity: ±10%.
THEORY_EXPONENT_ABS_TOL = 0.1
THEORY_VALUE_REL_TOL = 0.1

RULES = {
    "agrees": "refit: the paper's value inside our bootstrap interval, or ours inside the "
              "paper's stated uncertainty",
    "matches": "rerun: within a relative tolerance set by the profile (ci ±50%, cpu ±30%, "
               "gpu ±20%); theory: an exponent within ±0.1, another quantity within ±10%",
    "greater_than": "ours above the alternative's value; with an interval, all of it above",
    "less_than": "ours below the alternative's value; with an interval, all of it below",
}


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


def _interval_ok(iv: Sequence[float] | None) -> bool:
    return bool(iv) and len(iv) == 2 and all(_finite(v) for v in iv)


@dataclass(frozen=True)
class Criterion:
    """How ours is judged. ``kind`` is one of:

    - agrees: paper value inside our interval, or ours inside the paper's interval;
    - matches: within the rule's tolerance for the claim's kind and profile (resolved by
      :meth:`Scorecard.add` into ``abs``/``rel``); ``quantity`` is "exponent" or "value";
    - within: |ours - paper| <= abs or <= rel*|paper| (a typed tolerance);
    - contains_paper: the paper's value inside our interval;
    - in_range: ours in [lo, hi];
    - greater_than / less_than: ours against ``threshold``, the alternative's value when
      not given; with our interval, the interval's near edge is judged.
    """

    kind: str
    abs: float | None = None
    rel: float | None = None
    lo: float | None = None
    hi: float | None = None
    threshold: float | None = None
    quantity: str | None = None
    # an inequality whose threshold is the claim's alternative (the rule), not a typed one
    from_alternative: bool = False

    @property
    def uses_interval(self) -> bool:
        """Whether the verdict depends on our interval (then the alternative is judged
        with the data, not refused up front)."""
        return self.kind in ("agrees", "contains_paper")

    def describe(self) -> str:
        if self.kind in ("within", "matches"):
            parts = []
            if self.abs is not None:
                parts.append(f"±{self.abs:g}")
            if self.rel is not None:
                parts.append(f"±{100 * self.rel:.2g}%")
            if not parts:
                return "within the rule's tolerance of the paper"
            return "within " + " or ".join(parts) + " of the paper"
        if self.kind == "agrees":
            return "paper inside our interval, or ours inside the paper's"
        if self.kind == "contains_paper":
            return "paper value inside our interval"
        if self.kind == "in_range":
            return f"ours in [{self.lo:g}, {self.hi:g}]"
        if self.kind in ("greater_than", "less_than"):
            op = ">" if self.kind == "greater_than" else "<"
            if self.threshold is None:
                return f"ours {op} the alternative"
            if self.from_alternative:
                return f"ours {op} the alternative ({self.threshold:.4g})"
            return f"ours {op} {self.threshold:.4g}"
        raise ValueError(f"unknown criterion kind {self.kind!r}")

    def passes(self, ours: float | None, interval: Sequence[float] | None,
               paper: float | None, paper_interval: Sequence[float] | None = None
               ) -> tuple[bool, str]:
        """(passed, reason). A missing value never passes."""
        if not _finite(ours):
            return False, "no computed value"
        ours = float(ours)
        if self.kind in ("within", "matches"):
            if not _finite(paper):
                return False, "criterion needs a paper value"
            if self.abs is None and self.rel is None:
                raise ValueError("matches() is resolved by Scorecard.add before judging")
            err = abs(ours - float(paper))
            ok = (self.abs is not None and err <= self.abs) or (
                self.rel is not None and err <= self.rel * abs(float(paper)))
            return bool(ok), f"|ours - paper| = {err:.3g}"
        if self.kind in ("contains_paper", "agrees"):
            if not _finite(paper):
                return False, "criterion needs a paper value"
            paper = float(paper)
            inside_ours = _interval_ok(interval) and float(interval[0]) <= paper <= float(interval[1])
            if self.kind == "contains_paper":
                if not _interval_ok(interval):
                    return False, "no interval for ours"
                return inside_ours, ""
            inside_paper = (_interval_ok(paper_interval)
                            and float(paper_interval[0]) <= ours <= float(paper_interval[1]))
            if not _interval_ok(interval) and not _interval_ok(paper_interval):
                return False, "no interval for ours or the paper"
            return bool(inside_ours or inside_paper), ""
        if self.kind == "in_range":
            return bool(self.lo <= ours <= self.hi), ""
        if self.kind in ("greater_than", "less_than"):
            if self.threshold is None:
                raise ValueError("an inequality's threshold is resolved by Scorecard.add")
            edge = ours
            if _interval_ok(interval):
                edge = float(interval[0]) if self.kind == "greater_than" else float(interval[1])
            ok = edge > self.threshold if self.kind == "greater_than" else edge < self.threshold
            reason = "" if edge == ours else f"interval edge {edge:.4g}"
            return bool(ok), reason
        raise ValueError(f"unknown criterion kind {self.kind!r}")


def within(abs: float | None = None, rel: float | None = None) -> Criterion:
    """A typed tolerance: a counted claim using it departs from the rule (say why)."""
    if abs is None and rel is None:
        raise ValueError("within() needs abs=, rel= or both")
    return Criterion("within", abs=abs, rel=rel)


def matches(quantity: str = "exponent") -> Criterion:
    """The rule's tolerance for a rerun or theory claim (see :data:`RULES`)."""
    check_choice("quantity", quantity, ("exponent", "value"))
    return Criterion("matches", quantity=quantity)


def agrees() -> Criterion:
    """The refit rule: the paper's value inside our interval, or ours inside the paper's
    stated uncertainty."""
    return Criterion("agrees")


def contains_paper() -> Criterion:
    return Criterion("contains_paper")


def in_range(lo: float, hi: float) -> Criterion:
    if not lo <= hi:
        raise ValueError(f"in_range needs lo <= hi, got {lo}, {hi}")
    return Criterion("in_range", lo=lo, hi=hi)


def greater_than(threshold: float | None = None) -> Criterion:
    """Ours above ``threshold``; without one, above the claim's alternative (the rule)."""
    return Criterion("greater_than", threshold=None if threshold is None else float(threshold))


def less_than(threshold: float | None = None) -> Criterion:
    """Ours below ``threshold``; without one, below the claim's alternative (the rule)."""
    return Criterion("less_than", threshold=None if threshold is None else float(threshold))


@dataclass(frozen=True)
class Alternative:
    """The outcome that would mean "not reproduced": a value and what it stands for."""

    value: float
    text: str

    @classmethod
    def of(cls, spec: "Alternative | tuple[float, str] | None") -> "Alternative | None":
        if spec is None or isinstance(spec, Alternative):
            return spec
        try:
            value, text = spec
        except (TypeError, ValueError):
            raise ParameterError("alternative= takes (value, 'what it stands for')") from None
        if not _finite(value) or not str(text).strip():
            raise ParameterError("an alternative needs a finite value and a description")
        return cls(float(value), str(text))


def follows_rule(criterion: Criterion) -> bool:
    """Whether a criterion is the written rule's (no departure to explain)."""
    return (criterion.kind in ("agrees", "matches", "contains_paper")
            or (criterion.kind in ("greater_than", "less_than")
                and (criterion.threshold is None or criterion.from_alternative)))


def resolve(criterion: Criterion, kind: str, profile: str,
            alternative: Alternative | None) -> Criterion:
    """Fill in the rule's numbers: the tolerance of ``matches`` and the threshold of a
    rule inequality."""
    if criterion.kind == "matches":
        # a check compares closed forms or sums: held to the theory tolerance
        if kind in ("theory", "check"):
            if criterion.quantity == "exponent":
                return Criterion("matches", abs=THEORY_EXPONENT_ABS_TOL, quantity="exponent")
            return Criterion("matches", rel=THEORY_VALUE_REL_TOL, quantity="value")
        return Criterion("matches", rel=RERUN_REL_TOL[profile], quantity=criterion.quantity)
    if criterion.kind in ("greater_than", "less_than") and criterion.threshold is None:
        if alternative is None:
            raise ParameterError(f"{criterion.kind}() without a threshold needs alternative=")
        return Criterion(criterion.kind, threshold=alternative.value, from_alternative=True)
    return criterion


def accepts_alternative(criterion: Criterion, alternative: Alternative,
                        ours_interval: Sequence[float] | None, paper: float | None,
                        paper_interval: Sequence[float] | None) -> bool:
    """Whether the criterion would also pass the alternative. For a criterion that does
    not depend on our interval this is fixed before any data. ``agrees`` also accepts
    the alternative when it lies inside the paper's stated uncertainty (known up front)
    or inside our interval (known with the data); ``contains_paper`` when it lies inside
    our interval."""
    def inside(iv: Sequence[float] | None) -> bool:
        return _interval_ok(iv) and float(iv[0]) <= alternative.value <= float(iv[1])

    if criterion.kind == "agrees":
        return inside(ours_interval) or inside(paper_interval)
    if criterion.kind == "contains_paper":
        return inside(ours_interval)
    ok, _ = criterion.passes(alternative.value, None, paper, paper_interval)
    return ok


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
    alternative: Alternative | None = None
    departure: str = ""
    untestable: str = ""
    # computed
    verdict: str = ""
    passes: bool = False
    reason: str = ""

    @property
    def counted(self) -> bool:
        return self.kind in COUNTED_KINDS

    def judge(self, profile: str) -> "Claim":
        ok, reason = self.criterion.passes(self.ours, self.ours_interval, self.paper_value,
                                           self.paper_interval)
        if ok and self.counted and self.alternative is not None and accepts_alternative(
                self.criterion, self.alternative, self.ours_interval, self.paper_value,
                self.paper_interval):
            ok, reason = False, (f"our interval also contains the alternative "
                                 f"({self.alternative.text}, {self.alternative.value:g})")
        self.passes, self.reason = ok, reason
        # Below its profile a claim is only indicative, with or without a value (a value
        # the small grid cannot determine is "would fail", not a judged miss).
        if self.untestable and self.counted:
            self.passes, self.reason = False, self.untestable
            self.verdict = "not testable"
        elif profile_rank(profile) < profile_rank(self.min_profile):
            self.verdict = "indicative"
        elif not self.counted:
            self.verdict = "holds" if ok else "fails"
        elif not _finite(self.ours):
            self.verdict = "not reproduced"
        else:
            self.verdict = "reproduced" if ok else "not reproduced"
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["criterion"] = {k: v for k, v in asdict(self.criterion).items()
                          if v is not None and v is not False}
        d["criterion_text"] = self.criterion.describe()
        d["counted"] = self.counted
        d["follows_rule"] = follows_rule(self.criterion)
        d["tags"] = list(self.tags)
        for key in ("ours_interval", "paper_interval"):
            if d[key] is not None:
                d[key] = [round_sig(v) for v in d[key]]
        d["ours"] = round_sig(self.ours) if _finite(self.ours) else None
        d["paper_value"] = round_sig(self.paper_value) if _finite(self.paper_value) else None
        if self.alternative is not None:
            d["alternative"] = {"value": round_sig(self.alternative.value),
                                "text": self.alternative.text}
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
            tags: Sequence[str] = (),
            alternative: "Alternative | tuple[float, str] | None" = None,
            departure: str = "", untestable: str = "") -> Claim:
        """Add and judge a claim. Refused (ParameterError) when: the id is used twice, the
        source is missing, a counted claim names no alternative, departs from the
        tolerance rule without saying why, or has a criterion that also accepts its
        alternative. ``untestable="why"``: the data cannot decide the claim; it is shown
        as not testable with that reason and is not judged."""
        if any(c.id == id for c in self.claims):
            raise ParameterError(f"claim id {id!r} is used twice in {self.paper}")
        check_choice("min_profile", min_profile, PROFILES)
        check_choice("kind", kind, KINDS)
        if not paper_source:
            raise ParameterError(f"claim {id!r} needs the paper's source (table, figure, equation)")
        alt = Alternative.of(alternative)
        counted = kind in COUNTED_KINDS
        untestable = untestable.strip()
        if untestable and not counted:
            raise ParameterError(f"claim {id!r}: untestable= is for counted claims; a check holds or fails")
        if counted and alt is None and not untestable:
            raise ParameterError(
                f"claim {id!r} is counted ({kind}) and needs alternative=(value, 'what it "
                f"stands for'): the outcome that would mean not reproduced; or kind='check'")
        if counted and not follows_rule(criterion) and not departure.strip():
            raise ParameterError(
                f"claim {id!r}: criterion '{criterion.describe()}' departs from the tolerance "
                f"rule; say why in departure=")
        # the rule's tolerance is the one of the profile the claim is judged at
        judged_at = max(self.profile, min_profile, key=profile_rank)
        criterion = resolve(criterion, kind, judged_at, alt)
        paper_iv = tuple(map(float, paper_interval)) if paper_interval is not None else None
        # up front: what does not depend on our data (for agrees, the paper's interval)
        if counted and alt is not None and accepts_alternative(criterion, alt, None, paper_value, paper_iv):
            raise ParameterError(
                f"claim {id!r}: criterion '{criterion.describe()}' also accepts its "
                f"alternative ({alt.text}, {alt.value:g}); it could not fail")
        claim = Claim(
            id=id, statement=statement,
            paper_value=None if paper_value is None else float(paper_value),
            paper_source=paper_source,
            ours=float(ours) if _finite(ours) else None, criterion=criterion,
            ours_interval=tuple(map(float, ours_interval)) if ours_interval is not None else None,
            paper_interval=paper_iv,
            min_profile=min_profile, kind=kind, unit=unit, note=note, tags=tuple(tags),
            alternative=alt, departure=departure.strip(), untestable=untestable,
        ).judge(self.profile)
        self.claims.append(claim)
        return claim

    # -- summaries ---------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Counted claims only (refit, rerun, theory); checks are tallied apart."""
        counted = [c for c in self.claims if c.counted]
        judged = [c for c in counted if c.verdict not in ("indicative", "not testable")]
        checks = [c for c in self.claims if not c.counted]
        return {
            "total": len(counted),
            "judged": len(judged),
            "reproduced": sum(c.verdict == "reproduced" for c in judged),
            "indicative": sum(c.verdict == "indicative" for c in counted),
            "untestable": sum(c.verdict == "not testable" for c in counted),
            "indicative_would_pass": sum(c.passes for c in counted if c.verdict == "indicative"),
            "checks": len(checks),
            "checks_hold": sum(c.verdict == "holds" for c in checks),
        }

    def summary_line(self) -> str:
        c = self.counts()
        line = f"{self.paper}: {c['reproduced']}/{c['judged']} claims reproduced at profile {self.profile}"
        if c["indicative"]:
            line += (f" ({c['indicative']} indicative below their profile, "
                     f"{c['indicative_would_pass']} would pass)")
        if c["untestable"]:
            line += f"; {c['untestable']} not testable with these data"
        if c["checks"]:
            line += f"; {c['checks_hold']}/{c['checks']} checks hold"
        return line

    def outcomes(self) -> str:
        """The claim ids grouped by verdict, one line per group (for a notebook's closing
        section: what held and what did not, computed rather than typed)."""
        lines = []
        verdicts = ("reproduced", "not reproduced", "indicative")
        if any(c.verdict == "not testable" for c in self.claims):
            verdicts += ("not testable",)
        for verdict in verdicts:
            ids = [c.id + ((" (would pass)" if c.passes else " (would fail)")
                           if verdict == "indicative" else "")
                   for c in self.claims if c.counted and c.verdict == verdict]
            lines.append(f"{verdict}: {', '.join(ids) or 'none'}")
        checks = [f"{c.id} {c.verdict}" for c in self.claims if not c.counted]
        lines.append(f"checks (shown, not counted): {', '.join(checks) or 'none'}")
        return "\n".join(lines)

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
            "kind": c.kind,
            "alternative": (f"{_fmt(c.alternative.value)} ({c.alternative.text})"
                            if c.alternative else ""),
            "criterion": ("not judged: the data cannot decide it" if c.verdict == "not testable" else
                          c.criterion.describe() + (f" — {c.departure}" if c.departure else "")),
            "min profile": c.min_profile,
            "verdict": c.verdict + (" (would pass)" if c.verdict == "indicative" and c.passes else
                                    " (would fail)" if c.verdict == "indicative" else ""),
            "note": c.note or c.reason if c.verdict not in ("reproduced", "holds") else c.note,
        } for c in self.claims]

    def __repr__(self) -> str:
        lines = [self.summary_line()]
        for r in self.rows():
            lines.append(f"  [{r['verdict']}] {r['kind']} {r['claim']}: paper {r['paper']} ({r['source']}); "
                         f"ours {r['ours']}; {r['criterion']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "indicative": "#9a6700",
                  "not testable": "#57606a", "holds": "#57606a", "fails": "#cf222e"}
        head = "".join(f"<th>{html.escape(h)}</th>" for h in
                       ("claim", "kind", "statement", "paper", "source", "ours", "alternative",
                        "criterion", "min profile", "verdict", "note"))
        body = []
        # counted claims first, then the checks
        ordered = sorted(zip(self.claims, self.rows()), key=lambda cr: not cr[0].counted)
        for c, r in ordered:
            cells = [r["claim"], r["kind"], r["statement"], r["paper"], r["source"], r["ours"],
                     r["alternative"], r["criterion"], r["min profile"]]
            tds = "".join(f"<td>{html.escape(v)}</td>" for v in cells)
            tds += (f'<td style="color:{colour[c.verdict]};font-weight:600">'
                    f"{html.escape(r['verdict'])}</td><td>{html.escape(r['note'])}</td>")
            body.append(f"<tr>{tds}</tr>")
        return (f'<p><strong>{html.escape(self.summary_line())}</strong></p>'
                f'<table class="scalinglab-scorecard"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>")
