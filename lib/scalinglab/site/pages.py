"""The generated pages: home (scorecard and exponent plot), catalogue, the paper index
and each paper's page (its executed notebook with a summary box and its provenance).

Every number on these pages is read from the scorecard, the claims files or the
notebooks' metadata; nothing is typed here.
"""
from __future__ import annotations

import copy
import html
import json
from collections import Counter
from typing import Any, Iterable

from scalinglab.site.catalogue import CATEGORY_MEANING, CATEGORY_SHORT, STATUSES, Paper
from scalinglab.site.exponents import ExponentPoint
from scalinglab.site.inputs import PAPERMILL_ERROR_TAG, Claims, ExecutedNotebook, Scorecard, ScorecardRow

esc = html.escape

# Front matter for the pages whose tables need the full width: no right-hand sidebar.
WIDE = "---\nhtml_theme.sidebar_secondary.remove: true\n---\n\n"


def _raw(html_text: str) -> str:
    """A MyST block of raw HTML."""
    return "```{raw} html\n" + html_text.strip("\n") + "\n```\n"


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _interval(iv: tuple[float, float] | None) -> str:
    return f"[{_fmt(iv[0])}, {_fmt(iv[1])}]" if iv else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _when(iso: str) -> str:
    """'2026-01-02T03:05:00+00:00' -> '2026-01-02 03:05 UTC'."""
    if not iso:
        return "—"
    text = iso.replace("T", " ")
    if text.endswith("+00:00"):
        text = text[:-6][:16] + " UTC"
    return text


# --------------------------------------------------------------------------- home
STATUS_WORDS = {"ok": "ran", "cached": "cached", "failed": "failed"}


def _row_title(row: ScorecardRow, papers: dict[str, Paper]) -> str:
    if row.title:
        return row.title
    if row.paper in papers:
        return papers[row.paper].title
    return row.paper


def scorecard_table(card: Scorecard, papers: dict[str, Paper], pages: set[str]) -> str:
    head = ("<tr><th>Paper</th><th class='sl-num'>Reproduced / judged</th>"
            "<th class='sl-num'>Indicative</th><th>Run</th><th>Profile</th><th>Device</th>"
            "<th class='sl-num'>Wall time</th><th>Date</th></tr>")
    body = []
    for row in card.papers:
        title = esc(_row_title(row, papers))
        link = f"papers/{row.paper}.html"
        title_html = f"<a href='{link}'>{title}</a>" if row.paper in pages else title
        short = row.error if len(row.error) <= 160 else row.error[:157] + "…"
        error = (f"<div class='sl-error' title='{esc(row.error)}'>{esc(short)}</div>" if row.error else "")
        share = "" if not row.claims_judged else f" ({row.claims_reproduced / row.claims_judged:.0%})"
        body.append(
            f"<tr data-paper='{esc(row.paper)}' class='sl-run-{esc(row.status)}'>"
            f"<td><span class='sl-title'>{title_html}</span>"
            f"<span class='sl-id'>{esc(row.citation or row.paper)}</span>{error}</td>"
            f"<td class='sl-num'><span data-field='claims_reproduced'>{row.claims_reproduced}</span> / "
            f"<span data-field='claims_judged'>{row.claims_judged}</span>"
            f"<span class='sl-share'>{share}</span></td>"
            f"<td class='sl-num' data-field='claims_indicative'>{row.claims_indicative}</td>"
            f"<td><span class='sl-badge sl-run sl-run-{esc(row.status)}' data-field='status'>"
            f"{esc(STATUS_WORDS.get(row.status, row.status))}</span></td>"
            f"<td data-field='profile'>{esc(row.profile)}</td>"
            f"<td data-field='device'>{esc(row.device or '—')}</td>"
            f"<td class='sl-num' data-field='wall_time_s' data-value='{row.wall_time_s}'>"
            f"{_duration(row.wall_time_s)}</td>"
            f"<td data-field='date'>{esc(row.date or '—')}</td>"
            "</tr>")
    t = card.totals
    share = "" if not t["claims_judged"] else f" ({t['claims_reproduced'] / t['claims_judged']:.0%})"
    failed = (f", <span data-total='failed'>{t['failed']}</span> failed" if t["failed"] else "")
    foot = (f"<tr class='sl-totals'><td>Total: <span data-total='papers'>{t['papers']}</span> papers"
            f"{failed}</td>"
            f"<td class='sl-num'><span data-total='claims_reproduced'>{t['claims_reproduced']}</span> / "
            f"<span data-total='claims_judged'>{t['claims_judged']}</span><span class='sl-share'>{share}</span></td>"
            f"<td class='sl-num' data-total='claims_indicative'>{t['claims_indicative']}</td>"
            "<td colspan='5'></td></tr>")
    return (f"<div class='sl-table-wrap'><table class='sl-table sl-scorecard' id='scorecard-table' "
            f"data-profile='{esc(card.profile)}'><thead>{head}</thead><tbody>{''.join(body)}</tbody>"
            f"<tfoot>{foot}</tfoot></table></div>")


def exponent_table(points: list[ExponentPoint], pages: set[str]) -> str:
    rows = []
    for p in points:
        paper = (f"<a href='papers/{p.paper}.html'>{esc(p.paper)}</a>" if p.paper in pages
                 else esc(p.paper))
        rows.append(
            f"<tr data-claim='{esc(p.paper)}:{esc(p.claim)}'>"
            f"<td><span class='sl-title'>{paper} · <code>{esc(p.claim)}</code></span>"
            f"<span class='sl-id'>{esc(p.statement)}</span>"
            f"<span class='sl-id'>Paper: {esc(p.paper_source)}</span></td>"
            f"<td class='sl-num'>{_fmt(p.paper_value)}<span class='sl-iv'>{_interval(p.paper_interval)}</span></td>"
            f"<td class='sl-num'>{_fmt(p.ours)}<span class='sl-iv'>{_interval(p.ours_interval)}</span></td>"
            f"<td><span class='sl-badge sl-verdict-{esc(p.verdict.replace(' ', '-'))}'>{esc(p.verdict)}</span></td></tr>")
    return (f"<details class='sl-details'><summary>The {len(points)} exponents, one row each</summary>"
            "<div class='sl-table-wrap'><table class='sl-table sl-exponents' id='exponent-table'>"
            "<thead><tr><th>Claim</th><th class='sl-num'>Paper's</th>"
            "<th class='sl-num'>Ours</th><th>Verdict</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></details>")


def home_page(card: Scorecard, papers: dict[str, Paper], pages: set[str],
              points: list[ExponentPoint], catalogue_counts: Counter) -> str:
    t = card.totals
    lines = [
        WIDE + "# scalinglab",
        "",
        _raw(
            "<p class='sl-lead'>scalinglab reproduces neural scaling-law papers. Each paper is one "
            "Jupyter notebook that trains small models or refits published data, fits the paper's "
            "law with stated choices and confidence intervals, redraws its figures, and judges each "
            "of the paper's claims against a criterion written beside it.</p>"),
        "A claim is *reproduced* when our computed value meets its criterion, *not reproduced* "
        "when it does not, and *indicative* when the profile it ran at is smaller than the one "
        "the claim needs (see [how claims are judged](methods/claims.md)). Every number on this "
        "site comes from an executed notebook: open a paper's page to read the notebook, its "
        "figures and the run's provenance.",
        "",
        "## Two commands",
        "",
        "```bash",
        "make reproduce   # run the paper notebooks, write the scorecard",
        "make test        # unit tests, then every notebook under nbval",
        "```",
        "",
        "Each builds the virtual environment it needs. `make reproduce` takes `PROFILE=ci|cpu|gpu` "
        "(default: `gpu` when CUDA is available, else `cpu`), `PAPERS=a,b`, `JOBS=n` and `FORCE=1`. "
        "`make site` builds these pages from the "
        "executed notebooks and `make serve` serves them on localhost; `make lab` opens the "
        "notebooks in JupyterLab, where each one runs top to bottom at the `ci` profile in about "
        "a minute.",
        "",
        "## Scorecard",
        "",
        _raw(
            f"<p class='sl-summary' id='scorecard-summary'><strong><span data-total='claims_reproduced'>"
            f"{t['claims_reproduced']}</span> of <span data-total='claims_judged'>{t['claims_judged']}"
            f"</span></strong> judged claims reproduced across <strong><span data-total='papers'>"
            f"{t['papers']}</span> papers</strong> (<span data-total='claims_total'>{t['claims_total']}"
            f"</span> claims in all) at the <code>{esc(card.profile)}</code> profile; "
            f"<span data-total='claims_indicative'>{t['claims_indicative']}</span> more are indicative "
            f"(they need a larger profile) and <span data-total='failed'>{t['failed']}</span> "
            f"notebook{'s' if t['failed'] != 1 else ''} failed. "
            f"<span class='sl-id'>Scorecard written {esc(_when(card.generated_at))}.</span></p>"),
        _raw(scorecard_table(card, papers, pages)),
        f"The [catalogue](catalogue.md) lists all {sum(catalogue_counts.values())} papers we "
        f"triaged: {catalogue_counts.get('reproduced', 0)} reproduced, "
        f"{catalogue_counts.get('in progress', 0)} in progress, "
        f"{catalogue_counts.get('planned', 0)} planned and "
        f"{catalogue_counts.get('out of scope', 0)} judged out of scope, each with the reason.",
        "",
        "## Fitted exponents against the papers'",
        "",
    ]
    if points:
        lines += [
            "Every claim tagged *exponent* that has both the paper's value and ours. Points on "
            "the dashed line match the paper; bars are the intervals (ours: bootstrap), and a bar "
            "that runs off the plot is wider than the plot. Hollow markers are indicative: the "
            "profile was too small to judge them; a triangle at the edge is an indicative value "
            "far outside the plot (the table below gives it).",
            "",
            "```{image} figures/exponents.png",
            ":alt: Scatter plot of our fitted exponents against the papers' published exponents, "
            "one numbered point per claim, coloured by verdict",
            ":width: 760px",
            ":class: sl-exponent-plot",
            "```",
            "",
            _raw(exponent_table(points, pages)),
        ]
    else:
        lines += ["No claim tagged *exponent* has both a paper value and a computed value in this "
                  "scorecard yet.", ""]
    lines += ["", "```{toctree}", ":hidden:", "", "catalogue", "papers/index", "methods/index", "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- catalogue
def catalogue_page(papers: list[Paper], pages: set[str]) -> str:
    counts = Counter(p.status for p in papers)
    topics = sorted({p.topic for p in papers if p.category != "C"})
    c_topics = sorted({p.topic for p in papers if p.category == "C"})

    def options(values: Iterable[str], label: str) -> str:
        return f"<option value=''>{label}</option>" + "".join(
            f"<option value='{esc(v)}'>{esc(v)}</option>" for v in values)

    topic_options = (
        "<option value=''>all topics</option>"
        "<optgroup label='research topics'>"
        + "".join(f"<option value='{esc(v)}'>{esc(v)}</option>" for v in topics)
        + "</optgroup><optgroup label='out of scope: kind of paper'>"
        + "".join(f"<option value='{esc(v)}'>{esc(v)}</option>" for v in c_topics)
        + "</optgroup>")
    status_options = "<option value=''>all statuses</option>" + "".join(
        f"<option value='{esc(s)}'>{esc(s)} ({counts.get(s, 0)})</option>" for s in STATUSES)
    category_options = "<option value=''>all categories</option>" + "".join(
        f"<option value='{c}' title='{esc(m)}'>{c}: {esc(CATEGORY_SHORT[c])}</option>"
        for c, m in CATEGORY_MEANING.items())
    controls = (
        "<form class='sl-filters' id='catalogue-filters' onsubmit='return false'>"
        f"<label>Status <select id='filter-status' name='status'>{status_options}</select></label>"
        f"<label>Topic <select id='filter-topic' name='topic'>{topic_options}</select></label>"
        f"<label>Category <select id='filter-category' name='category'>{category_options}</select></label>"
        "<label>Search <input id='filter-text' name='q' type='search' placeholder='title or reason'></label>"
        "<button type='button' id='filter-reset'>Show all</button>"
        f"</form><p class='sl-count' id='catalogue-count' aria-live='polite'>"
        f"Showing <span id='catalogue-shown'>{len(papers)}</span> of {len(papers)} papers.</p>")
    rows = []
    # what the suite covers first, then what it plans, then what it leaves out
    ordered = sorted(papers, key=lambda p: (STATUSES.index(p.status), p.category, p.title.lower()))
    for p in ordered:
        title = esc(p.title)
        if p.id in pages:
            title = f"<a href='papers/{p.id}.html'>{title}</a>"
        arxiv = (f"<a class='sl-arxiv' href='{p.arxiv_url}'>arXiv:{esc(p.arxiv)}</a>" if p.arxiv else "")
        added = ("<span class='sl-id'>added by hand (not in the keyword list)</span>"
                 if p.source == "added" else "")
        rows.append(
            f"<tr id='paper-{esc(p.id)}' data-status='{esc(p.status)}' data-topic='{esc(p.topic)}' "
            f"data-category='{p.category}'>"
            f"<td><span class='sl-title'>{title}</span>{arxiv}{added}</td>"
            f"<td class='sl-num'>{p.year or '—'}</td>"
            f"<td><span class='sl-badge sl-cat' title='{esc(CATEGORY_MEANING[p.category])}'>{p.category}</span></td>"
            f"<td class='sl-topic'>{esc(p.topic)}</td>"
            f"<td><span class='sl-badge sl-status-{esc(p.status.replace(' ', '-'))}'>{esc(p.status)}</span></td>"
            f"<td class='sl-reason'>{esc(p.reason)}</td></tr>")
    table = ("<div class='sl-table-wrap'><table class='sl-table sl-catalogue' id='catalogue-table'>"
             "<thead><tr><th>Paper</th><th class='sl-num'>Year</th><th>Cat.</th><th>Topic</th>"
             "<th>Status</th><th>Why</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>"
             "<p class='sl-count' id='catalogue-empty' hidden>No paper matches these filters.</p>")
    legend = "".join(f"<dt>{c}</dt><dd>{esc(m)}</dd>" for c, m in CATEGORY_MEANING.items())
    return "\n".join([
        WIDE + "# Catalogue",
        "",
        f"Every paper we triaged: {len(papers)} in all, {counts.get('reproduced', 0)} reproduced, "
        f"{counts.get('in progress', 0)} in progress, {counts.get('planned', 0)} planned and "
        f"{counts.get('out of scope', 0)} out of scope. Most of the list was gathered by keyword "
        "(\"scaling\", \"scalable\"), so most of it is out of scope: model reports, methods, "
        "datasets and surveys that state no scaling law. Each row says why it has its category. "
        "Reproduced papers come first; a title links to its notebook's page. The list lives in "
        "`data/papers.yaml`.",
        "",
        _raw(controls),
        _raw(table),
        "",
        "## Categories",
        "",
        _raw(f"<dl class='sl-legend'>{legend}</dl>"),
        "",
    ])


# --------------------------------------------------------------------------- papers
def papers_index(pages: list[tuple[str, str]], card: Scorecard) -> str:
    lines = ["# Papers", "",
             "One page per reproduced paper: the executed notebook with its figures, its "
             "scorecard, the run's provenance and a link to download the notebook.", ""]
    items = []
    for paper, title in pages:
        row = card.row(paper)
        counts = (f"{row.claims_reproduced}/{row.claims_judged} judged claims reproduced"
                  + (f", {row.claims_indicative} indicative" if row.claims_indicative else "")
                  if row else "not in this scorecard")
        items.append(f"<li><a href='{paper}.html'>{esc(title)}</a> <span class='sl-id'>{counts}</span></li>")
    lines += [_raw(f"<ul class='sl-paper-list'>{''.join(items)}</ul>"), "",
              "```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    lines += [paper for paper, _ in pages]
    lines += ["```", ""]
    return "\n".join(lines)


def _md_cell(source: str, cell_id: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _cell_code(value: Any) -> str:
    text = str(value)
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _sections(cells: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The H2 headings of the notebook's markdown cells with the ids Sphinx gives them."""
    from docutils.nodes import make_id

    found, seen = [], set()
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        in_code = False
        for line in _cell_text(cell).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
            if not in_code and line.startswith("## "):
                title = line[3:].strip().strip("#").strip()
                anchor = make_id(title)
                if anchor and anchor not in seen:  # repeated titles get other ids: leave them out
                    seen.add(anchor)
                    found.append((title, anchor))
    return found


def provenance_rows(nb: ExecutedNotebook, row: ScorecardRow | None,
                    claims: Claims | None) -> list[tuple[str, str]]:
    run = nb.run
    prov = dict(run.get("provenance") or (claims.provenance if claims else {}) or {})
    git = prov.get("git") or {}
    rows: list[tuple[str, str]] = []
    commit = git.get("commit")
    if commit:
        rows.append(("commit", _cell_code(commit[:12]) + (" (with uncommitted changes)" if git.get("dirty") else "")))
    else:
        rows.append(("commit", "unknown (not run from a git checkout)"))
    profile = run.get("profile") or prov.get("profile") or (row.profile if row else "")
    rows.append(("profile", _cell_code(profile or "—")))
    device = run.get("device") or prov.get("device") or (row.device if row else "")
    device_name = prov.get("device_name")
    rows.append(("device", _cell_code(device or "—") + (f" ({device_name})" if device_name and device_name != device else "")))
    wall = run.get("wall_time_s", row.wall_time_s if row else None)
    rows.append(("wall time", _duration(float(wall)) if wall is not None else "—"))
    for key, label in (("started_at", "started"), ("finished_at", "finished")):
        if run.get(key):
            rows.append((label, run[key]))
    if prov.get("seed") is not None:
        rows.append(("seed", _cell_code(prov["seed"])))
    if prov.get("threads") is not None:
        rows.append(("threads", _cell_code(prov["threads"])))
    if prov.get("scalinglab"):
        rows.append(("scalinglab", _cell_code(prov["scalinglab"])))
    if prov.get("library_sha256"):
        rows.append(("library sha256", _cell_code(prov["library_sha256"][:16])))
    if run.get("input_hash"):
        rows.append(("inputs sha256", _cell_code(run["input_hash"][:16])))
    if prov.get("python"):
        rows.append(("python", _cell_code(prov["python"])))
    if prov.get("platform"):
        rows.append(("platform", _cell_code(prov["platform"])))
    packages = prov.get("packages") or {}
    if packages:
        rows.append(("packages", ", ".join(f"{k} {v or '—'}" for k, v in sorted(packages.items()))))
    return rows


def paper_notebook(nb: ExecutedNotebook, row: ScorecardRow | None, claims: Claims | None,
                   entry: Paper | None) -> dict[str, Any]:
    """The executed notebook as its page shows it: a summary box after the title, an
    anchor before the scorecard cell and the run's provenance at the end. The download
    link serves the notebook exactly as it was executed."""
    out = copy.deepcopy(nb.notebook)
    cells = out.setdefault("cells", [])
    # papermill's red banner on top of a failed notebook: the summary box says it instead,
    # with a link to the failing cell (papermill's anchor stays in place)
    error_anchor = any("papermill-error-cell" in _cell_text(c) for c in cells
                       if PAPERMILL_ERROR_TAG in c.get("metadata", {}).get("tags", []))
    while cells and PAPERMILL_ERROR_TAG in cells[0].get("metadata", {}).get("tags", []) and \
            'id="papermill-error-cell"' not in _cell_text(cells[0]):
        cells.pop(0)
    if not cells or cells[0].get("cell_type") != "markdown" or not nb.title:
        title = (entry.title if entry else "") or (row.title if row else "") or nb.paper
        cells.insert(0, _md_cell(f"# {title}", "sl-title"))

    counts = claims.counts if claims else (
        {"judged": row.claims_judged, "reproduced": row.claims_reproduced,
         "indicative": row.claims_indicative} if row else {})
    profile = nb.run.get("profile") or (row.profile if row else "") or (claims.profile if claims else "")
    device = nb.run.get("device") or (row.device if row else "")
    status = row.status if row else "ok"

    finish = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"
                   and "run.finish()" in _cell_text(c)), None)
    links = [f"<a href='../notebooks/{nb.paper}.ipynb' download>Download the executed notebook</a>"]
    if finish is not None:
        links.append("<a href='#scorecard-cell'>Scorecard</a>")
    if entry and entry.arxiv:
        links.append(f"<a href='{entry.arxiv_url}'>arXiv:{esc(entry.arxiv)}</a>")
    if entry:
        links.append(f"<a href='../catalogue.html#paper-{esc(entry.id)}'>Catalogue entry</a>")
    if status == "failed":
        verdict = (f"<strong>This notebook failed</strong>: {esc(row.error if row else '')}. "
                   "It stopped before writing its scorecard.")
        if error_anchor:
            links.insert(0, "<a href='#papermill-error-cell'>Go to the error</a>")
    elif counts:
        verdict = (f"<strong>{counts.get('reproduced', 0)} of {counts.get('judged', 0)}</strong> judged "
                   f"claims reproduced")
        if counts.get("indicative"):
            verdict += f"; {counts['indicative']} indicative (judged only at a larger profile)"
    else:
        verdict = "No claims file was found for this run."
    sections = _sections(cells) + [("Run provenance", "run-provenance")]
    contents = " · ".join(f"<a href='#{anchor}'>{esc(title)}</a>" for title, anchor in sections)
    box = (f"<div class='sl-paper-summary sl-run-{esc(status)}'>"
           f"<div class='sl-verdict-line'>{verdict} · profile <code>{esc(profile or '—')}</code>"
           f" · device <code>{esc(device or '—')}</code></div>"
           f"<div class='sl-links'>{' · '.join(links)}</div>"
           f"<div class='sl-links sl-contents'>On this page: {contents}</div></div>")
    cells.insert(1, _md_cell(box, "sl-summary"))
    if finish is not None:
        cells.insert(finish + 1, _md_cell("<span id='scorecard-cell'></span>", "sl-scorecard-anchor"))

    table = ["| field | value |", "|---|---|"]
    table += [f"| {k} | {v} |" for k, v in provenance_rows(nb, row, claims)]
    cells.append(_md_cell("## Run provenance\n\nWhat produced the outputs on this page, from the "
                          "executed notebook's metadata.\n\n" + "\n".join(table), "sl-provenance"))
    # the notebook's tables and code get the page's full width (no right-hand sidebar;
    # the summary box lists the sections instead)
    out.setdefault("metadata", {})["html_theme.sidebar_secondary.remove"] = True
    for i, cell in enumerate(cells):  # nbformat 4.5 wants an id on every cell
        cell.setdefault("id", f"cell-{i}")
    out.setdefault("nbformat", 4)
    out["nbformat_minor"] = max(int(out.get("nbformat_minor", 5)), 5)
    return out


def dump_notebook(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
