"""Build the static site from the results of record, the ci smoke run and the catalogue.

    build_site(record_run(results, "cpu"), catalogue, out_dir, smoke=smoke_run(build))

writes a Sphinx source tree under ``out_dir/source`` (the configuration and static files
of ``site/``, the generated pages, the notebooks) and the HTML under ``out_dir/html``.
Sphinx runs with warnings as errors. Notebooks are rendered as they were executed; the
build never runs one. Only files whose content changed are rewritten, so a rebuild after
a small change is incremental.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scalinglab.base.paths import project_root
from scalinglab.site import pages as P
from scalinglab.site.catalogue import Paper, by_id, load_catalogue, with_record
from scalinglab.site.exponents import draw_exponent_plot, exponent_points
from scalinglab.site.inputs import Claims, Run, SiteInputError, read_claims
from scalinglab.site.mathtext import formula_tex

# What of the MathJax package the pages can load: the TeX-to-HTML bundle and the
# components it loads on demand (TeX extensions, fonts, menu, accessibility).
MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors", "sre")


class SiteBuildError(RuntimeError):
    """Sphinx failed or warned; the message carries its warnings."""


@dataclass
class SiteBuild:
    html_dir: Path
    pages: int  # HTML pages with content (search and index pages not counted)
    papers: list[str]  # papers with a page
    seconds: float


def site_config_dir() -> Path:
    return project_root() / "site"


def find_mathjax(root: Path | None = None) -> Path:
    folder = (root or project_root()) / "node_modules" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").exists():
        raise SiteInputError("MathJax is not installed: run `npm ci` in the project root "
                             "(package-lock.json pins it; the site serves it itself)")
    return folder


def _write(path: Path, text: str | bytes, written: set[Path]) -> None:
    """Write only when the content differs (Sphinx then rebuilds only changed pages)."""
    written.add(path.resolve())
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy_file(src: Path, target: Path, written: set[Path]) -> None:
    """Copy unless the target is already this file (same size, not older)."""
    written.add(target.resolve())
    if target.exists() and target.stat().st_size == src.stat().st_size and \
            target.stat().st_mtime >= src.stat().st_mtime:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, target)


def _copy_tree(src: Path, dst: Path, written: set[Path], skip: tuple[str, ...] = ()) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name not in skip:
            _copy_file(path, dst / path.relative_to(src), written)


def _remove_stale(source: Path, written: set[Path]) -> None:
    for path in sorted(source.rglob("*"), reverse=True):
        if path.is_file() and path.resolve() not in written:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _docs_page(path: Path) -> str:
    """A project doc as a methods page: give it an H1 when it has none."""
    text = path.read_text(encoding="utf-8")
    if not re.search(r"^# ", text, re.M):
        text = f"# {path.stem.replace('_', ' ').replace('-', ' ').capitalize()}\n\n" + text
    return text


def _title_of(path: Path) -> str:
    match = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), re.M)
    return match.group(1).strip() if match else path.stem


def _profiles_table() -> str:
    from scalinglab.base.profiles import BUDGET_S, PROFILES
    where = {"ci": "any CPU, deterministic (one thread, fixed seeds)",
             "cpu": "a laptop or 2-core CPU", "gpu": "one GPU"}
    used = {"ci": "nbval, the notebooks' stored outputs, `make test`",
            "cpu": "`make reproduce` without a GPU", "gpu": "`make reproduce` with a GPU"}
    rows = ["| profile | where | budget per notebook | used by |", "|---|---|---|---|"]
    for p in PROFILES:
        budget = BUDGET_S[p]
        budget_text = f"{budget} s" if budget < 120 else f"{budget // 60} min"
        rows.append(f"| `{p}` | {where.get(p, '')} | {budget_text} | {used.get(p, '')} |")
    return "\n".join(rows) + "\n"


def _laws_table() -> str:
    """The laws of scalinglab.fit, read from the code: name, formula, parameters."""
    try:
        from scalinglab.fit import laws
    except ImportError as exc:  # the site still builds while the fitting package is broken
        return f"The fitting package could not be imported ({exc}).\n"
    rows = ["| law | form | parameters | inputs |", "|---|---|---|---|"]
    for name in ("PowerLaw", "KaplanN", "KaplanD", "KaplanND", "KaplanNS", "Chinchilla",
                 "DataConstrained", "BrokenPowerLaw", "LogLogLine"):
        cls = getattr(laws, name, None)
        if cls is None:
            continue
        try:
            law = cls()
        except Exception:  # a law that needs options to build is listed without a form
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        source = doc[0].split(":")[0] if doc and "et al." in doc[0] else ""
        cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
        try:
            form = cell(f"${formula_tex(law.formula)}$")
        except ValueError:  # a form the converter cannot read is shown as written
            form = f"`{cell(law.formula)}`"
        rows.append(f"| `{law.name}` (`{name}`) | {form}"
                    f"{f' ({cell(source)})' if source else ''} | "
                    f"{', '.join(f'`{p}`' for p in law.names)} | {', '.join(f'`{c}`' for c in law.inputs)} |")
    return "\n".join(rows) + "\n"


# where the "Fit your own runs" page (site/methods/fit-your-own-runs.md) finds its
# example CSV and the outputs of its examples, under the source's _generated/
FIT_EXAMPLES_DIR = "fit-your-own-runs"


def _fit_examples() -> dict[str, str]:
    """The example CSV and the outputs of the page's commands, run now (a few seconds):
    the page shows what the fitting code prints today. A failing example fails the build
    (SiteBuildError) rather than show a broken example."""
    from scalinglab.site.examples import ExampleError, fit_examples
    try:
        return fit_examples()
    except ExampleError as exc:
        raise SiteBuildError(f"an example of methods/fit-your-own-runs failed:\n{exc}") from None


def _claims_for(paper: str, claims_file: str, run: Run) -> Claims | None:
    candidates = [run.root / claims_file] if claims_file else []
    candidates.append(run.claims_dir / f"{paper}.json")
    for path in candidates:
        if path.is_file():
            return read_claims(path)
    return None


def _machine(entries: dict[str, dict]) -> str:
    """The machine a record was made on, when every paper was recorded on the same one."""
    found = {(m.get("cpu") or "", m.get("cores") or 0) for e in entries.values()
             for m in [e.get("machine") or {}] if m}
    if len(found) != 1:
        return ""
    cpu, cores = found.pop()
    return ", ".join(v for v in (cpu, f"{cores} cores" if cores else "") if v)


def generate_source(record: Run | None, catalogue: list[Paper], source: Path, *,
                    smoke: Run | None = None, docs_dir: Path | None = None,
                    config_dir: Path | None = None,
                    mathjax_dir: Path | None = None) -> tuple[list[str], int]:
    """Write the Sphinx source tree; returns (papers with a page, number of pages).

    The home page, the paper pages, the exponent plot and the catalogue statuses show
    ``record``; ``smoke`` (the ci run) gets a page of its own. Without a record the site
    shows the smoke run in its place, saying so on every page that shows it."""
    primary = record or smoke
    if primary is None:
        raise SiteInputError("no results of record and no ci run: run `make record`")
    card = primary.scorecard()
    config_dir = Path(config_dir) if config_dir else site_config_dir()
    notebooks = primary.notebooks()
    entries = primary.record_entries()
    written: set[Path] = set()
    source.mkdir(parents=True, exist_ok=True)

    # configuration, styles, scripts, hand-written methods pages
    for name in ("conf.py",):
        _write(source / name, (config_dir / name).read_text(encoding="utf-8"), written)
    for folder in ("_static", "_templates", "_extra", "methods"):
        if (config_dir / folder).is_dir():
            _copy_tree(config_dir / folder, source / folder, written, skip=("index.md",))
    mathjax = Path(mathjax_dir) if mathjax_dir else find_mathjax()
    for part in MATHJAX_PARTS:
        src = mathjax / part
        if src.is_dir():
            _copy_tree(src, source / "_static" / "mathjax" / part, written)
        elif src.is_file():
            _copy_file(src, source / "_static" / "mathjax" / part, written)
    _write(source / "_generated" / "profiles_table.md", _profiles_table(), written)
    _write(source / "_generated" / "laws_table.md", _laws_table(), written)
    if (config_dir / "methods" / f"{FIT_EXAMPLES_DIR}.md").exists():
        for name, text in _fit_examples().items():
            _write(source / "_generated" / FIT_EXAMPLES_DIR / name, text, written)
    guides = sorted(Path(docs_dir).glob("*.md")) if docs_dir and Path(docs_dir).is_dir() else []
    for doc in guides:
        _write(source / "methods" / "guides" / doc.name, _docs_page(doc), written)
    guide_toc = "\n".join(f"guides/{doc.stem}" for doc in guides)
    index = config_dir / "methods" / "index.md"
    if index.exists():
        guide_list = "".join(f"- [{_title_of(source / 'methods' / 'guides' / doc.name)}](guides/{doc.name})\n"
                             for doc in guides)
        if guide_list:
            guide_list = "\nGuides from the project's `docs/` folder:\n\n" + guide_list
        text = (index.read_text(encoding="utf-8").replace("<!-- guides -->", guide_toc)
                .replace("<!-- guide-list -->\n", guide_list))
        _write(source / "methods" / "index.md", text, written)

    # the claims of every paper of the scorecard (with a notebook or not)
    all_claims: dict[str, Claims] = {}
    for nb in notebooks:
        row = card.row(nb.paper)
        claims = _claims_for(nb.paper, row.claims_file if row else "", primary)
        if claims:
            all_claims[nb.paper] = claims
    for row in card.papers:
        if row.paper not in all_claims:
            claims = _claims_for(row.paper, row.claims_file, primary)
            if claims:
                all_claims[row.paper] = claims
    would_pass = {paper: c.would_pass for paper, c in all_claims.items()}
    for row in card.papers:
        if row.indicative_would_pass is not None:
            would_pass[row.paper] = row.indicative_would_pass

    # statuses derived from the record (none without one)
    counts = ({r.paper: (r.claims_judged, r.claims_reproduced) for r in card.papers
               if r.status != "failed"} if record else {})
    catalogue = with_record(catalogue, counts)
    papers = by_id(catalogue)
    statuses = {p.id: p.status for p in catalogue}

    # one page per executed notebook
    page_titles: list[tuple[str, str]] = []
    for nb in notebooks:
        row = card.row(nb.paper)
        entry = papers.get(nb.paper)
        rendered = P.paper_notebook(nb, row, all_claims.get(nb.paper), entry,
                                    record=primary.is_record, status=statuses.get(nb.paper, ""),
                                    record_entry=entries.get(nb.paper))
        _write(source / "papers" / f"{nb.paper}.ipynb", P.dump_notebook(rendered), written)
        # the download: the notebook as executed, its images inline (a recorded notebook
        # keeps them in files, which a reader's Jupyter would not find)
        download = nb.path.read_bytes() if not primary.is_record else P.dump_notebook(nb.notebook)
        _write(source / "_extra" / "notebooks" / f"{nb.paper}.ipynb", download, written)
        title = nb.title or (entry.title if entry else "") or (row.title if row else "") or nb.paper
        page_titles.append((nb.paper, title))
    pages = {paper for paper, _ in page_titles}

    ordered = [all_claims[r.paper] for r in card.papers if r.paper in all_claims]
    ordered += [c for p, c in sorted(all_claims.items()) if card.row(p) is None]
    points = exponent_points(ordered)
    if points:
        plot = source / "figures" / "exponents.png"
        draw_exponent_plot(points, plot)
        written.add(plot.resolve())

    # the smoke test beside a record: a page of its own, its notebooks to download
    smoke_card = None
    if record is not None and smoke is not None:
        smoke_card = smoke.scorecard()
        downloads = {}
        for row in smoke_card.papers:
            path = smoke.notebooks_dir / f"{row.paper}.ipynb"
            if path.is_file():
                _copy_file(path, source / "_extra" / "smoke" / "notebooks" / path.name, written)
                downloads[row.paper] = f"smoke/notebooks/{path.name}"
        _write(source / "smoke.md", P.smoke_page(smoke_card, papers, downloads, card.profile), written)

    catalogue_counts = Counter(p.status for p in catalogue)
    _write(source / "index.md", P.home_page(
        card, papers, pages, points, catalogue_counts, statuses=statuses, would_pass=would_pass,
        smoke=smoke_card, machine=_machine(entries)), written)
    _write(source / "catalogue.md", P.catalogue_page(
        catalogue, pages, card.profile if record else None), written)
    _write(source / "papers" / "index.md", P.papers_index(
        page_titles, card, statuses if record else None), written)
    _remove_stale(source, written)
    n_pages = sum(1 for p in source.rglob("*") if p.suffix in (".md", ".ipynb")
                  and "_extra" not in p.parts and "_generated" not in p.parts)
    return [paper for paper, _ in page_titles], n_pages


def run_sphinx(source: Path, html_dir: Path, doctrees: Path, quiet: bool = True) -> None:
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
           "-d", str(doctrees), str(source), str(html_dir)]
    if quiet:
        cmd.insert(3, "-q")
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise SiteBuildError("Sphinx failed (warnings are errors):\n" + "\n".join(lines[-40:]))
    if not quiet and proc.stdout:
        print(proc.stdout.rstrip())


def build_site(record: Run | None, catalogue: list[Paper] | str | Path, out_dir: str | Path, *,
               smoke: Run | None = None, docs_dir: str | Path | None = None,
               config_dir: str | Path | None = None, mathjax_dir: str | Path | None = None,
               quiet: bool = True) -> SiteBuild:
    """Generate the pages and run Sphinx; HTML lands in ``out_dir/html``.

    ``record``: the results of record the site shows (:func:`inputs.record_run`);
    ``smoke``: the ci run, shown on a page of its own (:func:`inputs.smoke_run`), or in
    the record's place, labelled as a smoke test, when there is no record."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if not isinstance(catalogue, list):
        catalogue = load_catalogue(catalogue)
    source, html_dir = out_dir / "source", out_dir / "html"
    papers, n_pages = generate_source(
        record, catalogue, source, smoke=smoke,
        docs_dir=Path(docs_dir) if docs_dir else None,
        config_dir=Path(config_dir) if config_dir else None,
        mathjax_dir=Path(mathjax_dir) if mathjax_dir else None)
    run_sphinx(source, html_dir, out_dir / "doctrees", quiet=quiet)
    return SiteBuild(html_dir=html_dir, pages=n_pages, papers=papers,
                     seconds=time.perf_counter() - started)
