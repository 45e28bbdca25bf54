"""Are a notebook's stored ci outputs what any machine computes? Comparisons by value.

A stored ci output must not depend on floating-point rounding (another BLAS kernel,
another CPU, another thread count). Two checks use this module:

* under pytest (``SCALINGLAB_CHECK_STORED_CLAIMS=1``, set by the root ``conftest.py``)
  ``run.finish()`` compares the run's claims with those ``make golden`` stored in the
  notebook's metadata (``metadata["scalinglab"]["claims"]``), so nbval fails the cell
  when a verdict flips or a value moves, not only when its printed text changes;
* ``scalinglab golden-check`` (:mod:`scalinglab.repro.goldencheck`) re-executes the
  notebooks under other rounding and compares every text output and every claim with
  what is stored.

Claims are compared by value: ids, ``kind``, ``verdict`` and ``passes`` exactly; ``ours``
and the ends of ``ours_interval`` within the rounding of the stored digits plus
:data:`REL_TOL`.
"""
from __future__ import annotations

import configparser
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from scalinglab.base import paths

CHECK_ENV = "SCALINGLAB_CHECK_STORED_CLAIMS"  # "1": finish() compares with the stored claims
EXPORT_ENV = "SCALINGLAB_CLAIMS_EXPORT"  # a folder: finish() also writes claims/<paper>.json there

# Claims files and the notebook metadata hold values rounded to this many significant
# digits (claims.round_sig), so two runs whose values straddle a rounding boundary
# differ by one unit in the last stored digit; that much is always allowed.
STORED_DIGITS = 4
# Beyond that rounding, a claim's value may move by this much, relative. Last-bit noise
# of a well-conditioned computation is ~1e-12 relative; every written criterion of the
# claims is percent-level or wider. A value that moves by more than 0.1% when only the
# rounding changed is ill-conditioned at the ci profile, and must be reported as such
# (or computed differently) rather than stored as a number.
REL_TOL = 1e-3

RECORDED = ("kind", "ours", "ours_interval", "passes", "verdict")


# ----------------------------------------------------------------------------------
# The record of a run's claims
# ----------------------------------------------------------------------------------
def _number(x: Any) -> float | None:
    """A JSON-safe number: non-finite values become None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def claims_record(claims: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{id: {kind, ours, ours_interval, passes, verdict}}`` from the ``claims`` list of a
    claims file (``Scorecard.to_dict()["claims"]``)."""
    record = {}
    for c in claims:
        iv = c.get("ours_interval")
        record[str(c["id"])] = {
            "kind": c.get("kind"),
            "ours": _number(c.get("ours")),
            "ours_interval": None if iv is None else [_number(v) for v in iv],
            "passes": bool(c.get("passes")),
            "verdict": c.get("verdict"),
        }
    return record


def store_claims(nb: dict[str, Any], claims_file: Path) -> dict[str, Any]:
    """Put the record of ``claims_file`` into the notebook's metadata (in place); a run
    that wrote no claims file leaves none stored."""
    meta = nb.setdefault("metadata", {}).setdefault("scalinglab", {})
    try:
        claims = json.loads(Path(claims_file).read_text())["claims"]
    except (OSError, ValueError, KeyError):
        meta.pop("claims", None)
        if not meta:
            nb["metadata"].pop("scalinglab")
        return nb
    meta["claims"] = claims_record(claims)
    return nb


def stored_claims(notebook: str | Path | Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The claims stored in a notebook (a path or a loaded notebook), or None."""
    if not isinstance(notebook, Mapping):
        try:
            notebook = json.loads(Path(notebook).read_text())
        except (OSError, ValueError):
            return None
    claims = notebook.get("metadata", {}).get("scalinglab", {}).get("claims")
    return claims if isinstance(claims, dict) else None


# ----------------------------------------------------------------------------------
# Comparing claims
# ----------------------------------------------------------------------------------
def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _last_digit(x: float, digits: int) -> float:
    """One unit in the last of ``digits`` significant digits of x."""
    return 10.0 ** (math.floor(math.log10(abs(x))) - digits + 1) if x else 0.0


def values_close(a: Any, b: Any, rel: float = REL_TOL, digits: int = STORED_DIGITS) -> bool:
    """Equal within the rounding to ``digits`` significant digits (half a unit in the last
    digit for each side) plus ``rel`` of the larger; None/NaN only equal None/NaN."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    a, b = float(a), float(b)
    if a == b:
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    allowed = 0.5 * (_last_digit(a, digits) + _last_digit(b, digits)) + rel * max(abs(a), abs(b))
    return abs(a - b) <= allowed * (1 + 1e-9)  # the slack absorbs binary representation


def _fmt(x: Any) -> str:
    return "none" if _missing(x) else f"{float(x):.6g}"


def _fmt_iv(iv: Sequence[Any] | None) -> str:
    return "none" if iv is None else "[" + ", ".join(_fmt(v) for v in iv) + "]"


def _moved(a: Any, b: Any) -> str:
    if _missing(a) or _missing(b) or not float(a):
        return ""
    return f" (moved {abs(float(b) - float(a)) / abs(float(a)):.2g} relative)"


def compare_claims(stored: Mapping[str, Mapping[str, Any]], computed: Mapping[str, Mapping[str, Any]],
                   rel: float = REL_TOL, digits: int = STORED_DIGITS) -> list[str]:
    """The differences between two claims records (:func:`claims_record`), one sentence
    each; empty when they agree. ``rel`` and ``digits``: see :data:`REL_TOL`."""
    problems: list[str] = []
    moved = False  # a value beyond the tolerance: say what the tolerance is
    for cid in stored:
        if cid not in computed:
            problems.append(f"claim {cid} is stored but this run did not make it")
    for cid in computed:
        if cid not in stored:
            problems.append(f"claim {cid} was made by this run but is not stored")
    for cid in (c for c in stored if c in computed):
        s, c = stored[cid], computed[cid]
        for key in ("verdict", "passes", "kind"):
            if s.get(key) != c.get(key):
                problems.append(f"claim {cid}: {key} {s.get(key)!r} stored, {c.get(key)!r} now")
        if not values_close(s.get("ours"), c.get("ours"), rel, digits):
            moved = True
            problems.append(f"claim {cid}: ours {_fmt(s.get('ours'))} stored, {_fmt(c.get('ours'))} "
                            f"now{_moved(s.get('ours'), c.get('ours'))}")
        s_iv, c_iv = s.get("ours_interval"), c.get("ours_interval")
        if (s_iv is None) != (c_iv is None) or (s_iv is not None and len(s_iv) != len(c_iv)):
            problems.append(f"claim {cid}: ours_interval {_fmt_iv(s_iv)} stored, {_fmt_iv(c_iv)} now")
        elif s_iv is not None:
            for end, a, b in zip(("low", "high"), s_iv, c_iv):
                if not values_close(a, b, rel, digits):
                    moved = True
                    problems.append(f"claim {cid}: ours_interval {end} end {_fmt(a)} stored, "
                                    f"{_fmt(b)} now{_moved(a, b)}")
    if moved:
        problems.append(f"(a value may move by the rounding to {digits} significant digits "
                        f"plus {rel:g} relative)")
    return problems


def check_stored_claims(paper: str, claims: Iterable[Mapping[str, Any]], root: Path | None = None) -> None:
    """Raise AssertionError, one line per difference, when the claims of this run differ
    from those stored in ``notebooks/<paper>.ipynb``; nothing when the notebook or its
    stored claims are absent."""
    notebook = Path(root or paths.project_root()) / "notebooks" / f"{paper}.ipynb"
    stored = stored_claims(notebook)
    if stored is None:
        return
    problems = compare_claims(stored, claims_record(claims))
    if problems:
        raise AssertionError(
            f"the claims of this run differ from those stored in notebooks/{paper}.ipynb "
            "(make golden-check shows what moves under other rounding; make golden stores "
            "new outputs):\n  " + "\n  ".join(problems))


# ----------------------------------------------------------------------------------
# Comparing text outputs as nbval does
# ----------------------------------------------------------------------------------
def load_sanitizers(path: str | Path | None = None) -> list[tuple[re.Pattern, str]]:
    """The (regex, replacement) pairs of nbval's sanitize file, in file order
    (default ``tests/nbval_sanitize.cfg``)."""
    path = Path(path) if path else paths.project_root() / "tests" / "nbval_sanitize.cfg"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    return [(re.compile(parser[s]["regex"]), parser[s].get("replace", ""))
            for s in parser.sections() if "regex" in parser[s]]


def sanitize(text: str, sanitizers: Sequence[tuple[re.Pattern, str]]) -> str:
    for regex, replace in sanitizers:
        text = regex.sub(replace, text)
    return text


_CR = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _ignored(cell: Mapping[str, Any]) -> bool:
    """Cells nbval does not compare (its skip and ignore-output markers)."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if tags & {"nbval-skip", "nbval-ignore-output", "pytest-validate-ignore-output"}:
        return True
    comments = {line.strip().lstrip("#").strip() for line in _text(cell.get("source", "")).splitlines()
                if line.strip().startswith("#")}
    return bool(comments & {"NBVAL_SKIP", "NBVAL_IGNORE_OUTPUT", "PYTEST_VALIDATE_IGNORE_OUTPUT"})


def output_texts(outputs: Sequence[Mapping[str, Any]], keys: Sequence[str] = ("text/plain",),
                 ) -> list[tuple[str, str]]:
    """(kind, text) of a cell's outputs as nbval compares them: streams merged per name
    (carriage-return overwrites applied), then each output's MIME entries in ``keys``,
    and errors as ``ename: evalue``."""
    streams: dict[str, str] = {}
    items: list[tuple[str, str]] = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            name = out.get("name", "stdout")
            if name not in streams:
                items.append((name, ""))
            streams[name] = streams.get(name, "") + _text(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            for key in keys:
                if key in out.get("data", {}):
                    items.append((key, _text(out["data"][key])))
        elif kind == "error":
            items.append(("error", f"{out.get('ename')}: {out.get('evalue')}"))
    return [(k, _CR.sub("", streams[k]) if k in streams else t) for k, t in items]


def compare_cells(stored_nb: Mapping[str, Any], got_nb: Mapping[str, Any],
                  sanitizers: Sequence[tuple[re.Pattern, str]]) -> list[dict[str, Any]]:
    """The code cells whose sanitized text outputs differ, as dicts: ``cell`` (nbval's
    number: the index among code cells), ``kind`` (stdout, text/plain, ...), ``line``
    (1-based, within that output) and the first differing ``stored`` and ``got`` lines.
    ``text/html`` is compared where the stored output has it."""
    stored_cells = [c for c in stored_nb.get("cells", []) if c.get("cell_type") == "code"]
    got_cells = [c for c in got_nb.get("cells", []) if c.get("cell_type") == "code"]
    diffs = []
    if len(stored_cells) != len(got_cells):
        diffs.append({"cell": None, "kind": "cells", "line": 0, "stored": f"{len(stored_cells)} code cells",
                      "got": f"{len(got_cells)} code cells"})
    for n, (s_cell, g_cell) in enumerate(zip(stored_cells, got_cells)):
        if _ignored(s_cell):
            continue
        keys = ["text/plain"]
        if any("text/html" in o.get("data", {}) for o in s_cell.get("outputs", [])):
            keys.append("text/html")
        s_items = [(k, sanitize(t, sanitizers)) for k, t in output_texts(s_cell.get("outputs", []), keys)]
        g_items = [(k, sanitize(t, sanitizers)) for k, t in output_texts(g_cell.get("outputs", []), keys)]
        if s_items == g_items:
            continue
        diffs.append(_first_difference(n, s_items, g_items))
    return diffs


def _first_difference(n: int, s_items, g_items) -> dict[str, Any]:
    for (s_kind, s_text), (g_kind, g_text) in zip(s_items, g_items):
        if s_kind != g_kind:
            return {"cell": n, "kind": s_kind, "line": 0, "stored": f"({s_kind} output)",
                    "got": f"({g_kind} output)"}
        if s_text != g_text:
            s_lines, g_lines = s_text.splitlines(), g_text.splitlines()
            for i in range(max(len(s_lines), len(g_lines))):
                a = s_lines[i] if i < len(s_lines) else "(no line)"
                b = g_lines[i] if i < len(g_lines) else "(no line)"
                if a != b:
                    return {"cell": n, "kind": s_kind, "line": i + 1, "stored": a, "got": b}
            return {"cell": n, "kind": s_kind, "line": 0, "stored": repr(s_text[-40:]),
                    "got": repr(g_text[-40:])}
    longer, what = (s_items, "stored") if len(s_items) > len(g_items) else (g_items, "got")
    extra = longer[min(len(s_items), len(g_items))]
    return {"cell": n, "kind": extra[0], "line": 0,
            "stored": f"({extra[0]} output)" if what == "stored" else "(no output)",
            "got": f"({extra[0]} output)" if what == "got" else "(no output)"}
