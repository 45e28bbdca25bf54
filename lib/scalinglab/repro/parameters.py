"""Declared notebook parameters: parse a parameters cell and validate values against it.

Each line of a notebook's parameters cell (the code cell tagged ``parameters``) declares
one parameter with its type, default and, optionally, the values it allows:

    name: type = default  # SPEC: help text

``type`` is ``int``, ``float``, ``str`` or ``bool``; the default is a Python literal.
``SPEC`` is optional and is one of

    a|b|c            choices
    >= x, > x, <= x, < x
                     a bound (int and float only)
    in [a, b], in [a, b), in (a, b], in (a, b)
                     an interval (int and float only)

A comment without ``": "`` is a spec when it reads as one (``# auto|cpu|cuda``), else it
is help text (``# output folder``). The cell is read with ``ast`` and ``tokenize``, never
executed. Values are checked with :meth:`Parameter.check`: an int accepts an integral
float, a float accepts an int, a bool accepts only True/False (or the words true/false),
NaN is never a number; a bad value is one line that names the parameter, the value and
what is allowed (``probe_angle_deg=500 must lie in [0, 90)``).
"""
from __future__ import annotations

import ast
import dataclasses
import io
import json
import math
import numbers
import re
import tokenize
from pathlib import Path
from typing import Any, Mapping

from scalinglab.base.profiles import ParameterError

TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}

_NUMBER = r"[-+]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_BOUND = re.compile(rf"^(>=|<=|>|<)\s*({_NUMBER})$")
_INTERVAL = re.compile(rf"^in\s*([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])$")
_CHOICES = re.compile(r"^[^|\s:]+(?:\s*\|\s*[^|\s:]+)+$")
# What a spec starts with; such a comment that does not parse is a malformed spec, not help.
_SPEC_LIKE = re.compile(r"^(?:>=|<=|>|<|in\s*[\[(])")


class DeclarationError(ParameterError):
    """A parameters cell line does not follow ``name: type = default  # SPEC: help``."""


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One declared parameter: its type, default and the values it allows."""

    name: str
    type: str
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    lower: float | None = None
    lower_closed: bool = True
    upper: float | None = None
    upper_closed: bool = True

    def allowed(self) -> str:
        """What the spec allows, as the end of a sentence ``name=value must ...``."""
        if self.choices is not None:
            return "be one of " + ", ".join(map(repr, self.choices))
        if self.lower is not None and self.upper is not None:
            return (f"lie in {'[' if self.lower_closed else '('}{_fmt(self.lower)}, "
                    f"{_fmt(self.upper)}{']' if self.upper_closed else ')'}")
        if self.lower is not None:
            return f"be {'>=' if self.lower_closed else '>'} {_fmt(self.lower)}"
        if self.upper is not None:
            return f"be {'<=' if self.upper_closed else '<'} {_fmt(self.upper)}"
        return f"be of type {self.type}"

    def check(self, value: Any) -> Any:
        """The value, converted to the declared type; ParameterError when it is not allowed."""
        converted = _convert(self.name, self.type, value)
        ok = self.choices is None or converted in self.choices
        if self.lower is not None:
            ok = ok and (converted >= self.lower if self.lower_closed else converted > self.lower)
        if self.upper is not None:
            ok = ok and (converted <= self.upper if self.upper_closed else converted < self.upper)
        if not ok:
            raise ParameterError(f"{self.name}={value!r} must {self.allowed()}")
        return converted


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _convert(name: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(f"{name}={value!r} must be True or False")
    if kind == "str":
        if not isinstance(value, str):
            raise ParameterError(f"{name}={value!r} must be a string")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be {'an integer' if kind == 'int' else 'a number'}")
    if isinstance(value, float) or not isinstance(value, numbers.Integral):
        value = float(value)
        if math.isnan(value):
            raise ParameterError(f"{name}={value!r} must be a number, not NaN")
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise ParameterError(f"{name}={value!r} must be an integer")
            return int(value)
        return int(value)
    return float(value)


# -- parsing -------------------------------------------------------------------------

def _comments(source: str) -> dict[int, str]:
    """The comment text on each line (without the leading '#')."""
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string[1:].strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # ast.parse reports the syntax error with a line number
    return out


def _parse_number(text: str, kind: str) -> float:
    x = float(text)
    return int(x) if kind == "int" and x.is_integer() else x


def _parse_spec(text: str, kind: str) -> dict[str, Any] | None:
    """The spec fields of ``text``, None when it is not a spec; DeclarationError (a bare
    message, located by the caller) when it looks like one but is malformed."""
    text = text.strip()
    bound, interval = _BOUND.match(text), _INTERVAL.match(text)
    if bound or interval:
        if kind not in ("int", "float"):
            raise DeclarationError(f"a {kind} parameter takes no bound or interval")
        if bound:
            op, x = bound.group(1), _parse_number(bound.group(2), kind)
            if op.startswith(">"):
                return {"lower": x, "lower_closed": op == ">="}
            return {"upper": x, "upper_closed": op == "<="}
        lo, hi = _parse_number(interval.group(2), kind), _parse_number(interval.group(3), kind)
        lo_closed, hi_closed = interval.group(1) == "[", interval.group(4) == "]"
        if lo > hi or (lo == hi and not (lo_closed and hi_closed)):
            raise DeclarationError(f"the interval {text[2:].strip()} is empty")
        return {"lower": lo, "lower_closed": lo_closed, "upper": hi, "upper_closed": hi_closed}
    if _CHOICES.match(text):
        if kind == "bool":
            raise DeclarationError("a bool parameter takes no choices")
        tokens = [t.strip() for t in text.split("|")]
        if kind == "str":
            choices = tuple(t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"" else t
                            for t in tokens)
        else:
            try:
                choices = tuple(_convert("choice", kind, _parse_number(t, kind)) for t in tokens)
            except (ValueError, ParameterError):
                raise DeclarationError(f"the choices {text} are not all of type {kind}") from None
        if len(set(choices)) != len(choices):
            raise DeclarationError(f"the choices {text} repeat a value")
        return {"choices": choices}
    if _SPEC_LIKE.match(text):
        raise DeclarationError(
            f"cannot read the spec {text!r} (use a|b|c, >= x, > x, <= x, < x or in [a, b))")
    return None


def _split_comment(comment: str, kind: str) -> tuple[dict[str, Any], str]:
    """(spec fields, help text) of a declaration's comment."""
    if ": " in comment:
        head, rest = comment.split(": ", 1)
        spec = _parse_spec(head, kind)
        if spec is not None:
            return spec, rest.strip()
    spec = _parse_spec(comment, kind)
    if spec is not None:
        return spec, ""
    return {}, comment


def parse_declarations(source: str, where: str = "parameters cell") -> dict[str, Parameter]:
    """The parameters declared in a parameters cell's source, by name, in order.

    ``where`` names the cell in error messages (``notebooks/x.ipynb, parameters cell``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise DeclarationError(f"{where} line {exc.lineno}: not valid Python ({exc.msg})") from None
    comments = _comments(source)
    lines = source.splitlines()
    params: dict[str, Parameter] = {}
    for node in tree.body:
        at = f"{where} line {node.lineno}"
        text = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
        shape = "declare it as `name: type = default  # help`"
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            raise DeclarationError(f"{at}: `{text}` is not a declaration; {shape}")
        name = node.target.id
        if not isinstance(node.annotation, ast.Name) or node.annotation.id not in TYPES:
            got = ast.get_source_segment(source, node.annotation) or "?"
            raise DeclarationError(f"{at}: {name} has type {got}; the type must be int, float, str or bool")
        kind = node.annotation.id
        if node.value is None:
            raise DeclarationError(f"{at}: {name} has no default; {shape}")
        try:
            default = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            got = ast.get_source_segment(source, node.value) or "?"
            raise DeclarationError(f"{at}: the default of {name} ({got}) must be a literal") from None
        if name in params:
            raise DeclarationError(f"{at}: {name} is declared twice")
        comment = next((comments[i] for i in range(node.end_lineno or node.lineno, node.lineno - 1, -1)
                        if i in comments), "")
        try:
            spec, help_text = _split_comment(comment, kind)
        except DeclarationError as exc:
            raise DeclarationError(f"{at}: {name}: {exc}") from None
        param = Parameter(name=name, type=kind, default=default, help=help_text, **spec)
        try:
            param = dataclasses.replace(param, default=param.check(default))
        except ParameterError as exc:
            raise DeclarationError(f"{at}: the default {exc}") from None
        params[name] = param
    return params


def parameters_cell(notebook: dict[str, Any]) -> str | None:
    """The source of a notebook's cell tagged ``parameters`` (None when it has none)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = cell.get("source", "")
            return "".join(src) if isinstance(src, list) else src
    return None


def notebook_parameters(path: str | Path, label: str | None = None) -> dict[str, Parameter]:
    """The parameters a notebook file declares. ``label`` names it in messages."""
    path = Path(path)
    label = label or path.name
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeclarationError(f"{label}: cannot read the notebook ({exc})") from None
    source = parameters_cell(nb)
    if source is None:
        raise DeclarationError(f"{label} has no code cell tagged 'parameters'")
    return parse_declarations(source, where=f"{label}, parameters cell")


def validate(declared: Mapping[str, Parameter], values: Mapping[str, Any],
             owner: str = "") -> dict[str, Any]:
    """``values`` checked against the declarations and converted to their types.

    A name that is not declared is an error listing the declared ones; ``owner`` (a
    notebook's name) prefixes every message."""
    prefix = f"{owner}: " if owner else ""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in declared:
            raise ParameterError(f"{prefix}unknown parameter {name!r}; "
                                 f"declared: {', '.join(declared) or 'none'}")
        try:
            out[name] = declared[name].check(value)
        except ParameterError as exc:
            raise ParameterError(f"{prefix}{exc}") from None
    return out


def check_namespace(declared: Mapping[str, Parameter], namespace: Mapping[str, Any]) -> None:
    """Check the values that the declared names hold in ``namespace`` (a notebook's
    globals); names it lacks are left alone."""
    validate(declared, {name: namespace[name] for name in declared if name in namespace})


def parse_assignment(text: str) -> tuple[str, Any]:
    """``name=value`` from a command line: the value read as a Python literal, else kept
    as a string (``bootstrap=200`` gives 200, ``device=cpu`` gives 'cpu')."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ParameterError(f"parameter {text!r} must look like name=value")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = raw
    return name, value


def check_paper_namespace(paper: str, namespace: Mapping[str, Any]) -> None:
    """Check the values a running notebook holds for the parameters that
    ``notebooks/<paper>.ipynb`` declares. A paper without such a file (a user's own
    notebook kept elsewhere) is not checked."""
    from scalinglab.base import paths
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", paper or ""):
        return
    path = paths.project_root() / "notebooks" / f"{paper}.ipynb"
    if not path.is_file():
        return
    check_namespace(notebook_parameters(path, label=paper), namespace)
