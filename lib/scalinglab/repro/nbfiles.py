"""Notebook files in the form Jupyter itself writes them.

JupyterLab saves a notebook through the Jupyter server, which writes it with nbformat
(JSON indented by one space, keys sorted, lines of sources and outputs split, non-ASCII
characters kept, a final newline). Before that the frontend sets ``metadata.kernelspec``
to the running kernel's spec, and every number has passed through JavaScript: a float
with an integral value comes back as an integer (``2.0`` as ``2``, ``1e+20`` as
``100000000000000000000``) and an integer beyond 2**53 loses its last digits.

A notebook stored in exactly that form can be opened, run at the ci profile and saved in
JupyterLab without a diff beyond its outputs; one in any other form is marked modified
on opening or rewritten by the first save. ``make golden`` and the scaffold write
notebooks through :func:`write_notebook`, and the checks compare each stored notebook
with :func:`notebook_text` of :func:`normalise_notebook`.
"""
from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

# The spec of the kernel every paper notebook runs on: ipykernel's own "python3" spec,
# whose display name JupyterLab writes into the notebook when the kernel starts. The
# project's JupyterLab kernelspec (lab/kernels/python3) carries the same name.
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": "python3"}


def notebook_text(nb: dict[str, Any]) -> str:
    """The file contents the Jupyter server writes for ``nb``: nbformat.write's text,
    without its schema validation (which changes nothing that is written)."""
    import nbformat
    from nbformat.reader import get_version
    node = nbformat.from_dict(copy.deepcopy(nb))
    text = nbformat.versions[get_version(node)[0]].writes_json(node)
    return text if text.endswith("\n") else text + "\n"


def _js_number(x: Any) -> Any:
    """A JSON number as it comes back from JavaScript (JSON.parse, then JSON.stringify)."""
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        if abs(x) <= 2 ** 53:
            return x
        try:
            x = float(x)
        except OverflowError:
            return x
    if isinstance(x, float) and math.isfinite(x) and x.is_integer() and abs(x) < 1e21:
        # JavaScript prints the shortest digits of the double, padded with zeros
        return int(Decimal(repr(x)))
    return x


def _js_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    return _js_number(value)


def normalise_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` as JupyterLab would save it: the project's kernelspec, numbers as they come
    back from JavaScript, and the structure nbformat writes (sources and outputs as lists
    of lines, transient keys dropped). Sources, outputs and other metadata are otherwise
    left as they are. Returns a new dict."""
    nb = _js_numbers(nb)  # new containers all through
    nb.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
    return json.loads(notebook_text(nb))


def write_notebook(path: str | Path, nb: dict[str, Any]) -> Path:
    """Write ``nb`` to ``path`` in the form JupyterLab would save it."""
    path = Path(path)
    path.write_text(notebook_text(normalise_notebook(nb)), encoding="utf-8")
    return path


def format_problems(text: str, nb: dict[str, Any]) -> list[str]:
    """How a stored notebook (its file text and parsed JSON) differs from the form
    JupyterLab writes, as sentences; empty when a save in JupyterLab would keep it."""
    problems = []
    constants: list[str] = []
    json.loads(text, parse_constant=constants.append)
    if constants:
        problems.append(f"holds {constants[0]}, which is not JSON: JupyterLab cannot open it")
    spec = nb.get("metadata", {}).get("kernelspec", {})
    if {k: spec.get(k) for k in ("display_name", "language")} != {
            k: KERNELSPEC[k] for k in ("display_name", "language")}:
        problems.append(
            f"kernelspec display_name/language are {spec.get('display_name')!r}/"
            f"{spec.get('language')!r}, not {KERNEL_DISPLAY_NAME!r}/'python' as JupyterLab "
            "writes them: opening the notebook marks it modified (run `make golden`)")
    try:
        expected = notebook_text(normalise_notebook(nb))
    except Exception as exc:  # not a notebook nbformat can write
        return problems + [f"nbformat cannot write it ({type(exc).__name__}: {exc})"]
    if not problems and text != expected:
        got, want = text.splitlines(), expected.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        problems.append(
            "not in the form a JupyterLab save writes (nbformat JSON: indent 1, sorted keys, "
            "split lines, final newline; integral floats as integers), first difference at "
            f"line {line + 1}: a save would rewrite it (run `make golden`)")
    return problems
