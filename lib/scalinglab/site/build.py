"""Build the static site from executed notebooks, a scorecard and the catalogue.

    build_site(notebooks_dir, scorecard_path, catalogue, out_dir)

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

from scalinglab.repro.paths import project_root
from scalinglab.site import pages as P
from scalinglab.site.catalogue import Paper, by_id, load_catalogue
from scalinglab.site.exponents import draw_exponent_plot, exponent_points
from scalinglab.site.inputs import (
    Claims, SiteInputError, read_claims, read_notebooks, read_scorecard,
)

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


def _claims_for(paper: str, claims_file: str, root: Path, claims_dir: Path) -> Claims | None:
    candidates = [root / claims_file] if claims_file else []
    candidates.append(claims_dir / f"{paper}.json")
    for path in candidates:
        if path.is_file():
            return read_claims(path)
    return None


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
    from scalinglab.repro.profiles import BUDGET_S, PROFILES
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
        rows.append(f"| `{law.name}` (`{name}`) | `{cell(law.formula)}`"
                    f"{f' ({cell(source)})' if source else ''} | "
                    f"{', '.join(f'`{p}`' for p in law.names)} | {', '.join(f'`{c}`' for c in law.inputs)} |")
    return "\n".join(rows) + "\n"


def generate_source(notebooks_dir: Path, scorecard_path: Path, catalogue: list[Paper],
                    source: Path, *, claims_dir: Path | None = None, docs_dir: Path | None = None,
                    config_dir: Path | None = None, mathjax_dir: Path | None = None,
                    root: Path | None = None) -> tuple[list[str], int]:
    """Write the Sphinx source tree; returns (papers with a page, number of pages)."""
    root = Path(root) if root else scorecard_path.resolve().parent.parent
    card = read_scorecard(scorecard_path)
    claims_dir = Path(claims_dir) if claims_dir else scorecard_path.parent / card.profile / "claims"
    config_dir = Path(config_dir) if config_dir else site_config_dir()
    notebooks = read_notebooks(notebooks_dir)
    papers = by_id(catalogue)
    written: set[Path] = set()
    source.mkdir(parents=True, exist_ok=True)

    # configuration, styles, scripts, hand-written methods pages
    for name in ("conf.py",):
        _write(source / name, (config_dir / name).read_text(encoding="utf-8"), written)
    for folder in ("_static", "_templates", "methods"):
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

    # one page per executed notebook
    page_titles: list[tuple[str, str]] = []
    all_claims: dict[str, Claims] = {}
    for nb in notebooks:
        row = card.row(nb.paper)
        claims = _claims_for(nb.paper, row.claims_file if row else "", root, claims_dir)
        if claims:
            all_claims[nb.paper] = claims
        entry = papers.get(nb.paper)
        rendered = P.paper_notebook(nb, row, claims, entry)
        _write(source / "papers" / f"{nb.paper}.ipynb", P.dump_notebook(rendered), written)
        _write(source / "_extra" / "notebooks" / f"{nb.paper}.ipynb", nb.path.read_bytes(), written)
        title = nb.title or (entry.title if entry else "") or (row.title if row else "") or nb.paper
        page_titles.append((nb.paper, title))
    pages = {paper for paper, _ in page_titles}
    for row in card.papers:  # claims of scorecard papers whose notebook is missing
        if row.paper not in all_claims:
            claims = _claims_for(row.paper, row.claims_file, root, claims_dir)
            if claims:
                all_claims[row.paper] = claims

    ordered = [all_claims[r.paper] for r in card.papers if r.paper in all_claims]
    ordered += [c for p, c in sorted(all_claims.items()) if card.row(p) is None]
    points = exponent_points(ordered)
    if points:
        plot = source / "figures" / "exponents.png"
        draw_exponent_plot(points, plot)
        written.add(plot.resolve())

    statuses = Counter(p.status for p in catalogue)
    _write(source / "index.md", P.home_page(card, papers, pages, points, statuses), written)
    _write(source / "catalogue.md", P.catalogue_page(catalogue, pages), written)
    _write(source / "papers" / "index.md", P.papers_index(page_titles, card), written)
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


def build_site(notebooks_dir: str | Path, scorecard_path: str | Path,
               catalogue: list[Paper] | str | Path, out_dir: str | Path, *,
               claims_dir: str | Path | None = None, docs_dir: str | Path | None = None,
               config_dir: str | Path | None = None, mathjax_dir: str | Path | None = None,
               root: str | Path | None = None, quiet: bool = True) -> SiteBuild:
    """Generate the pages and run Sphinx; HTML lands in ``out_dir/html``.

    ``claims_dir`` defaults to ``<scorecard folder>/<profile>/claims`` (where the runner
    writes them) and ``root`` (what the scorecard's relative paths start from) to the
    scorecard's grandparent, as for ``build/scorecard.json``."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if not isinstance(catalogue, list):
        catalogue = load_catalogue(catalogue)
    source, html_dir = out_dir / "source", out_dir / "html"
    papers, n_pages = generate_source(
        Path(notebooks_dir), Path(scorecard_path), catalogue, source,
        claims_dir=Path(claims_dir) if claims_dir else None,
        docs_dir=Path(docs_dir) if docs_dir else None,
        config_dir=Path(config_dir) if config_dir else None,
        mathjax_dir=Path(mathjax_dir) if mathjax_dir else None,
        root=Path(root) if root else None)
    run_sphinx(source, html_dir, out_dir / "doctrees", quiet=quiet)
    return SiteBuild(html_dir=html_dir, pages=n_pages, papers=papers,
                     seconds=time.perf_counter() - started)
