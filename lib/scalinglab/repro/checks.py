"""Structural checks every paper notebook must pass (run by the tests and the scaffold)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from scalinglab.repro.nbfiles import format_problems
from scalinglab.repro.parameters import DeclarationError, parse_declarations

REQUIRED_PARAMETERS = ("profile", "device", "seed", "executor", "workers", "out_dir")
# Folders of a machine that must never appear in stored outputs.
MACHINE_PATH = re.compile(r"(/root/|/work/|/tmp/|/home/[a-z]|/Users/[A-Za-z]|[A-Z]:\\\\Users)")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_notebook(path: str | Path) -> list[str]:
    """Problems with a paper notebook, as sentences; empty when it is fine."""
    path = Path(path)
    problems: list[str] = []
    text = path.read_text(encoding="utf-8")
    try:
        nb = json.loads(text)
    except ValueError as exc:
        return [f"not valid JSON: {exc}"]
    cells = nb.get("cells", [])
    if not any(c.get("cell_type") == "markdown" and _source(c).lstrip().startswith("# ")
               for c in cells[:2]):
        problems.append("no H1 title in its first cells")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"needs exactly one cell tagged 'parameters' (found {len(tagged)})")
    else:
        # the declarations the runner and sl.start read (a name with a help text or spec)
        try:
            declared = parse_declarations(_source(tagged[0]))
        except DeclarationError as exc:
            problems.append(str(exc))
            declared = None
        annotated = {name for name, p in (declared or {}).items()
                     if p.help or p.choices is not None or p.lower is not None or p.upper is not None}
        missing = [p for p in REQUIRED_PARAMETERS if p not in annotated]
        if missing and declared is not None:
            problems.append("parameters cell lacks annotated (name: type = value  # help) "
                            f"entries for {', '.join(missing)}")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec name is not 'python3'")
    # Stored in the form a JupyterLab save writes, so opening and saving leaves no diff.
    problems += format_problems(text, nb)
    if "papermill" in nb.get("metadata", {}) or any(
            k in c.get("metadata", {}) for c in cells for k in ("papermill", "execution")):
        problems.append("run metadata (papermill or execution timing) is stored: saved by hand? "
                        "run `make golden`")
    code = [c for c in cells if c.get("cell_type") == "code"]
    if not any(c.get("outputs") for c in code):
        problems.append("no stored outputs (run `make golden`): nbval would pass vacuously")
    if any(c.get("outputs") and not c.get("execution_count") for c in code):
        problems.append("outputs without execution counts: not produced by `make golden`")
    for c in code:
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"a stored output is an error ({out.get('ename')})")
    blob = json.dumps([c.get("outputs", []) for c in code])
    hit = MACHINE_PATH.search(blob)
    if hit:
        problems.append(f"an output shows a path of the machine ({hit.group(0)}…)")
    if not re.match(r"^[a-z]+[0-9]{4}_[a-z0-9_]+\.ipynb$", path.name):
        problems.append("file name is not <firstauthor><year>_<topic>.ipynb")
    return problems
