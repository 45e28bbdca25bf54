"""``scalinglab new-paper``: a notebook skeleton that already passes the suite's checks
(H1 title, annotated parameters cell, kernel python3, stored ci outputs, catalogue entry)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from scalinglab.base import paths
from scalinglab.base.profiles import ParameterError
from scalinglab.repro.nbfiles import KERNELSPEC, write_notebook
from scalinglab.repro.notebook import PAPER_ID

# Declarations in the grammar of scalinglab.repro.parameters (name: type = default  #
# SPEC: help), which the runner and sl.start check values against.
PARAMETERS = '''\
profile: str = "ci"  # ci|cpu|gpu: how much compute to spend
device: str = "auto"  # auto|cpu|cuda|mps: where to train
seed: int = 0  # >= 0: seed for every random number generator
executor: str = "local"  # local|dask|ray|slurm: where sweep runs execute
workers: int = 1  # >= 1: parallel sweep workers
out_dir: str = "build/lab"  # figures and claims (relative paths start at the project root)'''


def scaffold_notebook(paper: str, title: str, citation: str = "") -> nbformat.NotebookNode:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    params = code(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    cells = [
        md(f"# {title}\n\n{citation or 'Authors, year, arXiv id.'}\n\n"
           "**What the paper claims, in our words.** Replace this paragraph with the claims this "
           "notebook checks, and what our setup changes (data, scale, tokenizer)."),
        params,
        code("import scalinglab as sl\n"
             "from scalinglab.repro import agrees, matches, within, contains_paper, greater_than, less_than\n\n"
             f"run = sl.start({paper!r}, profile=profile, device=device, seed=seed,\n"
             "               executor=executor, workers=workers, out_dir=out_dir,\n"
             f"               title={title!r}, citation={citation!r})\n"
             "run"),
        md("## Grids\n\nWhat each profile runs, in plain sight."),
        code('grid = run.pick({\n    "ci": {"sizes": [1, 2]},\n    "cpu": {"sizes": [1, 2, 4, 8]},\n'
             '    "gpu": {"sizes": [1, 2, 4, 8, 16, 32]},\n})\ngrid'),
        md("## Data\n\nRun the sweep through the run cache (`scalinglab.sweep.run_sweep`) or load "
           "published data through the registry (`scalinglab.data.published`)."),
        md("## Fit\n\nFit with `scalinglab.fit`; every fit prints its choices."),
        md("## Figures\n\nSave each figure with `run.savefig(fig, name)`."),
        md("## Scorecard\n\nOne `run.claim(...)` per claim of the paper, decided before our "
           "value is seen. A counted claim (refit, rerun, theory) names its alternative, the "
           "outcome that would mean not reproduced, and follows the tolerance rule of the "
           "claims methods page; a check (bookkeeping, an identity) is never counted. A claim "
           "without a computed value is shown as not reproduced."),
        code('run.claim("first_claim", "State the paper\'s first claim here",\n'
             '          paper_value=None, paper_source="paper, Table/Figure/Equation",\n'
             "          ours=None, criterion=matches(), kind=\"rerun\", min_profile=\"cpu\",\n"
             '          alternative=(0.0, "the outcome that would mean not reproduced"),\n'
             '          note="not implemented yet")\nrun.finish()'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def add_catalogue_entry(paper: str, title: str, catalogue: Path) -> bool:
    """Append an "in progress" entry to data/papers.yaml unless the notebook is listed."""
    notebook = f"{paper}.ipynb"
    text = catalogue.read_text() if catalogue.exists() else "papers:\n"
    if re.search(rf"notebook:\s*['\"]?{re.escape(notebook)}", text):
        return False
    year = re.search(r"[0-9]{4}", paper)
    quoted = title.replace('"', '\\"')
    entry = (f"- id: {paper}\n  title: \"{quoted}\"\n  year: {year.group(0) if year else 'null'}\n"
             f"  arxiv: null\n  category: A2\n  topic: other\n  notebook: {notebook}\n"
             f"  reason: scaffolded, claims not yet implemented\n"
             f"  source: added\n")
    # follow the file's own indentation of list items under `papers:`
    first_item = re.search(r"^( *)- ", text, re.M)
    indent = first_item.group(1) if first_item else ""
    entry = "".join(indent + line + "\n" for line in entry.splitlines())
    catalogue.write_text(text.rstrip("\n") + "\n" + entry)
    return True


def new_paper(paper: str, title: str, citation: str = "", execute: bool = True,
              root: Path | None = None) -> Path:
    if not PAPER_ID.match(paper):
        raise ParameterError(f"paper id {paper!r} must look like 'smith2024_topic'")
    root = Path(root) if root else paths.project_root()
    path = root / "notebooks" / f"{paper}.ipynb"
    if path.exists():
        raise ParameterError(f"notebooks/{path.name} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_notebook(path, scaffold_notebook(paper, title, citation))  # as JupyterLab saves it
    added = add_catalogue_entry(paper, title, root / "data" / "papers.yaml")
    print(f"wrote notebooks/{path.name}" + (" and its entry in data/papers.yaml" if added else ""))
    if execute:
        from scalinglab.repro.runner import golden
        if golden([paper], root=root):
            raise ParameterError(f"the new notebook {path.name} failed to execute")
    return path
