"""The generated pages: home (the scorecard of record and the exponent plot), the smoke
test, the catalogue, the paper index and each paper's page (its executed notebook with
a summary box, its claims and checks, and its provenance).

Every number on these pages is read from the scorecard, the claims files, the record
or the notebooks' metadata; nothing is typed here.
"""
from __future__ import annotations

import ast
import copy
import html
import json
import re
from collections import Counter
from typing import Any

from scalinglab.site.catalogue import (
    CATEGORY_MEANING, CATEGORY_SHORT, STATUS_MEANING, STATUSES, Paper,
)
from scalinglab.site.exponents import ExponentPoint, alt_text
from scalinglab.site.mathtext import caret_html
from scalinglab.site.inputs import (
    PAPERMILL_ERROR_TAG, ClaimRecord, Claims, ExecutedNotebook, Scorecard, ScorecardRow,
)

esc = html.escape

# Front matter for the pages whose tables need the full width: no right-hand sidebar.
WIDE = "---\nhtml_theme.sidebar_secondary.remove: true\n---\n\n"

# How the site names the two kinds of run.
RECORD_WORDS = "results of record"
SMOKE_WORDS = "smoke test"


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


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


_TEXT_COMMANDS = {"texttt": "code", "textit": "em", "emph": "em", "textbf": "strong"}


def title_html(title: str) -> str:
    """A title as HTML: its TeX text commands ($\\texttt{t5x}$) as tags, any other
    inline math as its TeX source without the dollars (the catalogue loads no MathJax)."""
    out, last = [], 0
    for m in re.finditer(r"\$([^$]+)\$", title):
        out.append(esc(title[last:m.start()]))
        tex = m.group(1).strip()
        cmd = re.fullmatch(r"\\(\w+)\{([^{}]*)\}", tex)
        if cmd and cmd.group(1) in _TEXT_COMMANDS:
            tag = _TEXT_COMMANDS[cmd.group(1)]
            out.append(f"<{tag}>{esc(cmd.group(2))}</{tag}>")
        else:
            out.append(esc(tex))
        last = m.end()
    out.append(esc(title[last:]))
    return "".join(out)


def title_text(title: str) -> str:
    """A title as plain text (for headings and link text): $\\texttt{t5x}$ -> t5x."""
    return re.sub(r"<[^>]+>", "", html.unescape(title_html(title)))


# --------------------------------------------------------------------------- home
STATUS_WORDS = {"ok": "ran", "cached": "cached", "failed": "failed"}


def _row_title(row: ScorecardRow, papers: dict[str, Paper]) -> str:
    if row.title:
        return row.title
    if row.paper in papers:
        return papers[row.paper].title
    return row.paper


def _status_badge(status: str) -> str:
    return (f"<span class='sl-badge sl-status-{esc(status.replace(' ', '-'))}' "
            f"title='{esc(STATUS_MEANING.get(status, ''))}'>{esc(status)}</span>")


def _verdict_badge(verdict: str, text: str | None = None) -> str:
    return (f"<span class='sl-badge sl-verdict-{esc(verdict.replace(' ', '-'))}'>"
            f"{esc(text or verdict)}</span>")


def _share(reproduced: int, judged: int) -> str:
    return "" if not judged else f" ({reproduced / judged:.0%})"


def scorecard_table(card: Scorecard, papers: dict[str, Paper], pages: set[str], *,
                    table_id: str = "scorecard-table", statuses: dict[str, str] | None = None,
                    would_pass: dict[str, int] | None = None, link: str = "papers/{paper}.html",
                    downloads: dict[str, str] | None = None, smoke: bool = False) -> str:
    """The scorecard as a table, one row per paper: what is reproduced first (the
    paper's status and share, which stay in view on a phone), then how the run went
    (columns of class sl-opt, which a phone drops).

    ``statuses``: the catalogue status of each paper (the record's); ``would_pass``: how
    many indicative claims would pass; ``downloads``: the address of each paper's
    executed notebook (the smoke test's); ``smoke``: a ci run, whose rows say how the
    run went (ran, cached, failed) where a record's say the paper's status."""
    statuses, would_pass, downloads = statuses or {}, would_pass or {}, downloads or {}
    has_checks = "checks" in card.totals
    # the profile is named above the table; a column only when rows differ from it
    profile_column = any(r.profile != card.profile for r in card.papers)
    head = ("<tr><th>Paper</th>"
            + ("<th>Run</th>" if smoke else "<th class='sl-desk'>Status</th>")
            + "<th class='sl-num'>Reproduced / judged</th><th class='sl-num'>Indicative</th>"
            + ("<th class='sl-num sl-opt'>Checks hold</th>" if has_checks else "")
            + ("<th class='sl-opt'>Profile</th>" if profile_column else "")
            + f"<th class='sl-opt'>{'Run on' if smoke else 'Recorded'}<span class='sl-id'>device · wall time</span></th></tr>")
    body = []
    for row in card.papers:
        title = esc(title_text(_row_title(row, papers)))
        title_html_ = (f"<a href='{link.format(paper=row.paper)}'>{title}</a>"
                       if row.paper in pages else title)
        short = row.error if len(row.error) <= 160 else row.error[:157] + "…"
        error = (f"<div class='sl-error' title='{esc(row.error)}'>{esc(short)}</div>" if row.error else "")
        download = (f"<a class='sl-id' href='{esc(downloads[row.paper])}' download>"
                    "executed notebook</a>" if row.paper in downloads else "")
        status = statuses.get(row.paper, "")
        badge = _status_badge(status) if status else "—"
        if smoke:
            second = (f"<td><span class='sl-badge sl-run sl-run-{esc(row.status)}' data-field='status'>"
                      f"{esc(STATUS_WORDS.get(row.status, row.status))}</span></td>")
            phone_badge = ""
        else:
            second = f"<td class='sl-desk' data-field='paper_status'>{badge}</td>"
            phone_badge = f"<span class='sl-phone'>{badge}</span>" if status else ""
        wp = would_pass.get(row.paper)
        indicative = f"<span data-field='claims_indicative'>{row.claims_indicative}</span>"
        if row.claims_indicative and wp is not None:
            indicative += (f"<span class='sl-iv'>{wp} would pass</span>"
                           f"<span class='sl-iv'>{row.claims_indicative - wp} would fail</span>")
        checks = (f"<td class='sl-num sl-opt'><span data-field='checks_hold'>{row.checks_hold}</span> / "
                  f"<span data-field='checks'>{row.checks}</span></td>" if has_checks else "")
        body.append(
            f"<tr data-paper='{esc(row.paper)}' data-profile='{esc(row.profile)}' "
            f"class='sl-run-{esc(row.status)}'>"
            f"<td><span class='sl-title'>{title_html_}</span>{phone_badge}"
            f"<span class='sl-id'>{esc(row.citation or row.paper)}</span>{download}{error}</td>"
            f"{second}"
            f"<td class='sl-num'><span data-field='claims_reproduced'>{row.claims_reproduced}</span> / "
            f"<span data-field='claims_judged'>{row.claims_judged}</span>"
            f"<span class='sl-share'>{_share(row.claims_reproduced, row.claims_judged)}</span></td>"
            f"<td class='sl-num'>{indicative}</td>{checks}"
            + (f"<td class='sl-opt' data-field='profile'>{esc(row.profile)}</td>" if profile_column else "")
            + f"<td class='sl-opt sl-when'><span data-field='date'>{esc(row.date or '—')}</span>"
            f"<span class='sl-id'><span data-field='device'>{esc(row.device or '—')}</span> · "
            f"<span data-field='wall_time_s' data-value='{row.wall_time_s}'>"
            f"{_duration(row.wall_time_s)}</span></span></td>"
            "</tr>")
    t = card.totals
    failed = (f", <span data-total='failed'>{t['failed']}</span> failed" if t.get("failed") else "")
    wp_total = sum(would_pass.get(r.paper, 0) for r in card.papers)
    ind_total = f"<span data-total='claims_indicative'>{t['claims_indicative']}</span>"
    if t["claims_indicative"] and would_pass:
        ind_total += (f"<span class='sl-iv'>{wp_total} would pass</span>"
                      f"<span class='sl-iv'>{t['claims_indicative'] - wp_total} would fail</span>")
    checks_total = (f"<td class='sl-num sl-opt'><span data-total='checks_hold'>{t['checks_hold']}</span> / "
                    f"<span data-total='checks'>{t['checks']}</span></td>" if has_checks else "")
    second_foot = "<td></td>" if smoke else "<td class='sl-desk'></td>"
    foot = (f"<tr class='sl-totals'><td>Total: <span data-total='papers'>{t['papers']}</span> papers"
            f"{failed}</td>{second_foot}"
            f"<td class='sl-num'><span data-total='claims_reproduced'>{t['claims_reproduced']}</span> / "
            f"<span data-total='claims_judged'>{t['claims_judged']}</span>"
            f"<span class='sl-share'>{_share(t['claims_reproduced'], t['claims_judged'])}</span></td>"
            f"<td class='sl-num'>{ind_total}</td>{checks_total}"
            f"<td class='sl-opt' colspan='{2 if profile_column else 1}'></td></tr>")
    return (f"<div class='sl-table-wrap' tabindex='0'><table class='sl-table sl-scorecard' id='{table_id}' "
            f"data-profile='{esc(card.profile)}' data-source='{'record' if card.record else 'run'}'>"
            f"<thead>{head}</thead><tbody>{''.join(body)}</tbody>"
            f"<tfoot>{foot}</tfoot></table></div>")


def exponent_table(points: list[ExponentPoint], pages: set[str]) -> str:
    rows = []
    for p in points:
        name = esc(p.name or p.paper)
        paper = f"<a href='papers/{p.paper}.html'>{name}</a>" if p.paper in pages else name
        rows.append(
            f"<tr data-claim='{esc(p.paper)}:{esc(p.claim)}'>"
            f"<td><span class='sl-title'>{paper} · <code class='sl-claim-id'>{esc(p.claim)}</code></span>"
            f"<span class='sl-id'>{caret_html(p.statement)}</span>"
            f"<span class='sl-id'>Paper: {esc(p.paper_source)}</span></td>"
            f"<td>{_verdict_badge(p.verdict, p.verdict_text)}</td>"
            f"<td class='sl-num'>{_fmt(p.paper_value)}<span class='sl-iv'>{_interval(p.paper_interval)}</span></td>"
            f"<td class='sl-num'>{_fmt(p.ours)}<span class='sl-iv'>{_interval(p.ours_interval)}</span></td></tr>")
    return (f"<details class='sl-details'><summary>The {len(points)} exponents, one row each</summary>"
            "<div class='sl-table-wrap' tabindex='0'><table class='sl-table sl-exponents' id='exponent-table'>"
            "<thead><tr><th>Claim</th><th>Verdict</th><th class='sl-num'>Paper's</th>"
            "<th class='sl-num'>Ours</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div></details>")


def _catalogue_sentence(catalogue_counts: Counter, profile: str | None) -> str:
    parts = [f"{catalogue_counts.get(s, 0)} {s}" for s in STATUSES
             if catalogue_counts.get(s, 0) or s in ("reproduced", "planned", "out of scope")]
    basis = (f"derived from the {RECORD_WORDS} at the `{profile}` profile" if profile
             else "derived from the results of record, of which there are none yet")
    return (f"The [catalogue](catalogue.md) lists all {sum(catalogue_counts.values())} papers we "
            f"triaged: {', '.join(parts)}, each with the reason. Statuses are {basis}.")


def home_page(card: Scorecard, papers: dict[str, Paper], pages: set[str],
              points: list[ExponentPoint], catalogue_counts: Counter, *,
              statuses: dict[str, str] | None = None, would_pass: dict[str, int] | None = None,
              smoke: Scorecard | None = None, machine: str = "") -> str:
    """The home page. ``card`` is the record's scorecard, or the smoke test's when there
    is no record (the page then says so); ``smoke`` is the smoke test shown on its own
    page beside a record."""
    t = card.totals
    record = card.record
    profile = card.profile
    would_pass = would_pass or {}
    wp = sum(would_pass.get(r.paper, 0) for r in card.papers)
    lines = [
        WIDE + "# scalinglab",
        "",
        _raw(
            "<p class='sl-lead'>scalinglab reproduces neural scaling-law papers. Each paper is one "
            "Jupyter notebook that trains small models or refits published data, fits the paper's "
            "law with stated choices and confidence intervals, redraws its figures, and judges each "
            "of the paper's claims against a criterion written beside it.</p>"),
        "A counted claim (a *refit* of published data, a *rerun* at our scale, or a *theory* "
        "prediction against our simulation) is *reproduced* when our computed value meets its "
        "criterion and *not reproduced* when it does not; it is *indicative* when the profile it "
        "ran at is smaller than the one the claim needs, and then shows whether it would pass. "
        "*Checks* (bookkeeping, identities) are shown on each paper's page but never counted "
        "(see [how claims are judged](methods/claims.md)). Every number on this site comes from "
        "an executed notebook: open a paper's page to read the notebook, its figures and the "
        "run's provenance.",
        "",
    ]
    n_ind = t['claims_indicative']
    indicative = (f"<span data-total='claims_indicative'>{n_ind}</span> more "
                  f"{'is' if n_ind == 1 else 'are'} indicative ({'it needs' if n_ind == 1 else 'they need'} "
                  f"a larger profile than <code>{esc(profile)}</code>"
                  + (f": {wp} would pass, {t['claims_indicative'] - wp} would fail" if would_pass else "")
                  + ")")
    checks = ""
    if "checks" in t:
        checks = (f" <span data-total='checks_hold'>{t['checks_hold']}</span> of "
                  f"<span data-total='checks'>{t['checks']}</span> checks hold; they are not counted.")
    failed = ""
    if "failed" in t and (t["failed"] or not record):
        failed = (f" <span data-total='failed'>{t['failed']}</span> "
                  f"notebook{'s' if t['failed'] != 1 else ''} failed.")
    summary = (
        f"<p class='sl-summary' id='scorecard-summary'><strong><span data-total='claims_reproduced'>"
        f"{t['claims_reproduced']}</span> of <span data-total='claims_judged'>{t['claims_judged']}"
        f"</span></strong> judged claims reproduced across <strong><span data-total='papers'>"
        f"{t['papers']}</span> papers</strong> at the <strong><code>{esc(profile)}</code> profile"
        f"</strong> (<span data-total='claims_total'>{t['claims_total']}</span> counted claims in "
        f"all); {indicative}.{checks}{failed} "
        f"<span class='sl-id'>{'Recorded' if record else 'Run'} {esc(_when(card.generated_at))}"
        f"{(' on ' + esc(machine)) if machine else ''}.</span></p>")
    if record:
        lines += [
            f"## Scorecard of record: the `{profile}` profile",
            "",
            f"The {RECORD_WORDS}: every notebook run at the `{profile}` profile by `make record`, "
            f"its claims, figures and executed notebook committed under `results/{profile}/`.",
            "",
            _raw(summary),
        ]
    else:
        lines += [
            "## Smoke test: the `ci` profile (no results of record yet)",
            "",
            _raw("<div class='sl-notice' id='no-record'><strong>These are not results.</strong> "
                 "There is no record under <code>results/</code> yet, so this page shows the "
                 f"{SMOKE_WORDS}: every notebook run at the <code>ci</code> profile on a tiny grid, "
                 "to show that it runs end to end. <code>make record</code> runs them at the "
                 "<code>cpu</code> profile (gpu on a GPU) and writes the results of record, which "
                 "the site then shows.</div>"),
            _raw(summary),
        ]
    lines += [
        _raw(scorecard_table(card, papers, pages, statuses=statuses if record else None,
                             would_pass=would_pass, smoke=not record)),
        _catalogue_sentence(catalogue_counts, profile if record else None),
        "",
    ]
    if smoke is not None:
        st = smoke.totals
        lines += [
            f"The [{SMOKE_WORDS}](smoke.md) runs every notebook at the `ci` profile on a tiny grid "
            "to show that it runs end to end; its verdicts are not results. Last run "
            f"{_when(smoke.generated_at)}: {st['papers']} notebooks, {st.get('failed', 0)} failed.",
            "",
        ]
    lines += [f"## Fitted exponents against the papers' (`{profile}` profile)", ""]
    if points:
        lines += [
            "Every counted claim tagged *exponent* that has both the paper's value and ours, "
            f"at the `{profile}` profile. Points on the dashed line match the paper; bars are the "
            "intervals (ours: bootstrap), and a bar that runs off the plot is wider than the plot. "
            "Filled markers are judged (circles reproduced, crosses not reproduced, drawn on top); "
            "hollow ones are indicative, the profile being too small to judge them (squares would "
            "pass, diamonds would fail); a triangle at the edge is an indicative value far outside "
            "the plot (the table below gives it).",
            "",
            "```{image} figures/exponents.png",
            f":alt: {alt_text(points, profile)}",
            ":width: 760px",
            ":class: sl-exponent-plot",
            "```",
            "",
            _raw(exponent_table(points, pages)),
        ]
    else:
        lines += ["No counted claim tagged *exponent* has both a paper value and a computed value "
                  "in this scorecard yet.", ""]
    lines += [
        "",
        "## Commands",
        "",
        "```bash",
        "make record      # run the notebooks at the cpu profile (gpu on a GPU), write results/<profile>/",
        "make reproduce   # run them into build/ (PROFILE=ci|cpu|gpu), for work in progress",
        "make test        # unit tests, then every notebook under nbval at the ci profile",
        "make site        # this site, from the highest recorded profile; make serve serves it",
        "```",
        "",
        "Each builds the virtual environment it needs. `make reproduce` takes `PROFILE=ci|cpu|gpu` "
        "(default: `gpu` when CUDA is available, else `cpu`), `PAPERS=a,b`, `JOBS=n` and `FORCE=1`. "
        "`make lab` opens the notebooks in JupyterLab, where each one runs top to bottom at the "
        "`ci` profile in about a minute.",
        "",
    ]
    toc = ["catalogue", "papers/index"] + (["smoke"] if smoke is not None else []) + ["methods/index"]
    lines += ["```{toctree}", ":hidden:", "", *toc, "```", ""]
    return "\n".join(lines)


def smoke_page(card: Scorecard, papers: dict[str, Paper], downloads: dict[str, str],
               record_profile: str) -> str:
    """The ci run, shown apart from the record and labelled as a smoke test."""
    t = card.totals
    failed = t.get("failed", 0)
    summary = (
        f"<p class='sl-summary' id='smoke-summary'><span data-total='papers'>{t['papers']}</span> "
        f"notebooks ran at the <code>ci</code> profile, <span data-total='failed'>{failed}</span> "
        f"failed. At this scale <span data-total='claims_reproduced'>{t['claims_reproduced']}</span> of "
        f"<span data-total='claims_judged'>{t['claims_judged']}</span> judged claims pass and "
        f"<span data-total='claims_indicative'>{t['claims_indicative']}</span> are indicative "
        f"(<span data-total='claims_total'>{t['claims_total']}</span> counted claims in all). "
        f"<span class='sl-id'>Run {esc(_when(card.generated_at))}.</span></p>")
    return "\n".join([
        WIDE + "# Smoke test (`ci` profile)",
        "",
        _raw("<div class='sl-notice' id='smoke-notice'><strong>A smoke test, not a result.</strong> "
             "<code>make reproduce PROFILE=ci</code> runs every notebook on a tiny grid in about a "
             "minute, to show that it runs end to end (and <code>make test</code> checks its stored "
             "outputs). Its grids span too little to judge most claims, so its verdicts are not "
             f"the suite's results: those are the <a href='index.html'>results of record</a> at "
             f"the <code>{esc(record_profile)}</code> profile.</div>"),
        _raw(summary),
        _raw(scorecard_table(card, papers, set(), table_id="smoke-table", downloads=downloads,
                             smoke=True)),
        "Each row's notebook link downloads the notebook as the ci run executed it. The paper "
        "pages show the results of record.",
        "",
    ])


# --------------------------------------------------------------------------- catalogue
def catalogue_page(papers: list[Paper], pages: set[str], profile: str | None) -> str:
    counts = Counter(p.status for p in papers)
    topics = sorted({p.topic for p in papers if p.category != "C"})
    c_topics = sorted({p.topic for p in papers if p.category == "C"})

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
        title = title_html(p.title)
        if p.id in pages:
            title = f"<a href='papers/{p.id}.html'>{title}</a>"
        arxiv = (f"<a class='sl-arxiv' href='{p.arxiv_url}'>arXiv:{esc(p.arxiv)}</a>" if p.arxiv else "")
        added = ("<span class='sl-id'>added by hand (not in the keyword list)</span>"
                 if p.source == "added" else "")
        rows.append(
            f"<tr id='paper-{esc(p.id)}' data-status='{esc(p.status)}' data-topic='{esc(p.topic)}' "
            f"data-category='{p.category}'>"
            f"<td><span class='sl-title'>{title}</span>{arxiv}{added}</td>"
            f"<td>{_status_badge(p.status)}</td>"
            f"<td class='sl-num'>{p.year or '—'}</td>"
            f"<td><span class='sl-badge sl-cat' title='{esc(CATEGORY_MEANING[p.category])}'>{p.category}</span></td>"
            f"<td class='sl-topic'>{esc(p.topic)}</td>"
            f"<td class='sl-reason'>{esc(p.reason)}</td></tr>")
    table = ("<div class='sl-table-wrap' tabindex='0'><table class='sl-table sl-catalogue' id='catalogue-table'>"
             "<thead><tr><th>Paper</th><th>Status</th><th class='sl-num'>Year</th><th>Cat.</th><th>Topic</th>"
             "<th>Why</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>"
             "<p class='sl-count' id='catalogue-empty' hidden>No paper matches these filters.</p>")
    legend = "".join(f"<dt>{c}</dt><dd>{esc(m)}</dd>" for c, m in CATEGORY_MEANING.items())
    status_legend = "".join(f"<dt>{_status_badge(s)}</dt><dd>{esc(STATUS_MEANING[s])}</dd>"
                            for s in STATUSES)
    basis = (f"derived from the {RECORD_WORDS} at the `{profile}` profile" if profile else
             "derived from the results of record; there are none yet, so every paper with a "
             "notebook is *in progress*")
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    return "\n".join([
        WIDE + "# Catalogue",
        "",
        f"Every paper we triaged: {len(papers)} in all: {parts}. Statuses are {basis}, never "
        "typed (see [Statuses](#statuses)). Most of the list was gathered by keyword "
        "(\"scaling\", \"scalable\"), so most of it is out of scope: model reports, methods, "
        "datasets and surveys that state no scaling law. Each row says why it has its category. "
        "Reproduced papers come first; a title links to its notebook's page. The list lives in "
        "`data/papers.yaml`.",
        "",
        _raw(controls),
        _raw(table),
        "",
        "## Statuses",
        "",
        _raw(f"<dl class='sl-legend sl-status-legend'>{status_legend}</dl>"),
        "",
        "## Categories",
        "",
        _raw(f"<dl class='sl-legend'>{legend}</dl>"),
        "",
    ])


# --------------------------------------------------------------------------- papers
def papers_index(pages: list[tuple[str, str]], card: Scorecard,
                 statuses: dict[str, str] | None = None) -> str:
    statuses = statuses or {}
    where = (f"the {RECORD_WORDS} at the `{card.profile}` profile" if card.record
             else f"the {SMOKE_WORDS} at the `ci` profile (there are no results of record yet)")
    lines = ["# Papers", "",
             f"One page per paper notebook, from {where}: the executed notebook with its figures, "
             "its claims and checks, the run's provenance and a link to download the notebook.", ""]
    items = []
    for paper, title in pages:
        row = card.row(paper)
        counts = (f"{row.claims_reproduced}/{row.claims_judged} judged claims reproduced"
                  + (f", {row.claims_indicative} indicative" if row.claims_indicative else "")
                  if row else "not in this scorecard")
        badge = f" {_status_badge(statuses[paper])}" if paper in statuses else ""
        items.append(f"<li><a href='{paper}.html'>{esc(title_text(title))}</a>{badge} "
                     f"<span class='sl-id'>{counts}</span></li>")
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


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


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


# -- papermill's parameters ----------------------------------------------------------
def _assignments(source: str) -> dict[str, tuple[int, int, int, str]]:
    """Top-level ``name = value`` / ``name: type = value`` of a cell: name -> (line,
    start column, end column of the value, the value's source)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    lines = source.splitlines()
    out = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or value is None or value.lineno != value.end_lineno:
            continue
        line = lines[value.lineno - 1]
        out[target.id] = (value.lineno - 1, value.col_offset, value.end_col_offset,
                          line[value.col_offset:value.end_col_offset])
    return out


def merge_parameters(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show papermill's parameters once. papermill keeps the notebook's ``parameters``
    cell (the defaults) and inserts an ``injected-parameters`` cell after it (the values
    of this run); the page shows the parameters cell with the injected values in place,
    each changed line noting its default, under a label. Without a parameters cell the
    injected one stays, labelled."""
    injected_at = next((i for i, c in enumerate(cells) if "injected-parameters" in _tags(c)), None)
    if injected_at is None:
        return cells
    cells = list(cells)
    injected = cells[injected_at]
    values = {k: v[3] for k, v in _assignments(_cell_text(injected)).items()}
    params_at = next((i for i, c in enumerate(cells) if "parameters" in _tags(c)
                      and c.get("cell_type") == "code"), None)
    names = ", ".join(f"`{k}`" for k in values) or "none"
    if params_at is None:
        label = (f"**Parameters of this run**, set by the runner (papermill): {names}.")
        cells.insert(injected_at, _md_cell(label, "sl-parameters-label"))
        return cells
    params = copy.deepcopy(cells[params_at])
    lines = _cell_text(params).splitlines()
    declared = _assignments("\n".join(lines))
    changed, added = [], []
    for name, value in values.items():
        if name in declared:
            row, start, end, default = declared[name]
            if value != default:
                rest = lines[row][end:]
                line = lines[row][:start] + value + rest
                lines[row] = (line.rstrip() + f" (default {default})" if "#" in rest
                              else line + f"  # default {default}")
                changed.append(name)
        else:
            lines.append(f"{name} = {value}  # set by the runner (not declared above)")
            added.append(name)
    params["source"] = "\n".join(lines)
    params["outputs"] = params.get("outputs") or []
    params.setdefault("metadata", {})["tags"] = _tags(params) + ["sl-merged-parameters"]
    what = (f"the runner (papermill) set {', '.join(f'`{n}`' for n in changed + added)}; each "
            "changed line notes the notebook's default" if changed or added
            else "the runner (papermill) kept the notebook's defaults")
    label = f"**Parameters of this run**: {what}."
    cells[params_at] = params
    del cells[injected_at]
    cells.insert(params_at, _md_cell(label, "sl-parameters-label"))
    return cells


# -- words the notebooks use ---------------------------------------------------------
GLOSSARY = {
    # a term some notebooks use for where their paper values come from
    "fact sheet": "../methods/claims.html#where-the-paper-values-come-from",
}


def _link_terms(source: str) -> str:
    """Link the first use of each glossary term in a markdown cell to its definition
    (outside code, math and existing links)."""
    for term, href in GLOSSARY.items():
        pattern = re.compile(rf"(?<![\w`$\[])({re.escape(term)})(?![\w`$\]])", re.I)
        protected = [(m.start(), m.end()) for m in re.finditer(
            r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\[[^\]]*\]\([^)]*\)|<[^>]+>", source, re.S)]
        for m in pattern.finditer(source):
            if any(a <= m.start() < b for a, b in protected):
                continue
            link = (f"<a class='sl-term' href='{href}' title='what the fact sheet is'>"
                    f"{m.group(1)}</a>")
            source = source[:m.start()] + link + source[m.end():]
            break
    return source


# -- the claims and checks tables --------------------------------------------------------
def _one_line(html_text: str) -> str:
    """Raw HTML in a markdown cell ends at a blank line: keep it on one line."""
    return " ".join(html_text.split("\n"))


def _claim_row(c: ClaimRecord, check: bool) -> str:
    paper = _fmt(c.paper_value) + (f"<span class='sl-iv'>{_interval(c.paper_interval)}</span>"
                                   if c.paper_interval else "")
    ours = _fmt(c.ours) + (f"<span class='sl-iv'>{_interval(c.ours_interval)}</span>"
                           if c.ours_interval else "")
    criterion = ("not judged: the data cannot decide it" if c.verdict == "not testable"
                 else esc(c.criterion_text))
    if c.departure:
        criterion += f"<span class='sl-id'>departs from the rule: {esc(c.departure)}</span>"
    note = c.note if c.verdict in ("reproduced", "holds") else (c.reason or c.note)
    if c.verdict == "indicative":
        note = f"judged at the {c.min_profile} profile" + (f"; {c.reason or c.note}" if (c.reason or c.note) else "")
    cells = [
        f"<td class='sl-claim-id'><code>{esc(c.id)}</code>"
        + ("" if check else f"<span class='sl-id'>{esc(c.kind)}</span>") + "</td>",
        f"<td>{_verdict_badge(c.verdict, c.verdict_text)}</td>",
        f"<td>{caret_html(c.statement)}<span class='sl-id'>{esc(c.paper_source)}</span></td>",
        f"<td class='sl-num'>{paper}</td>",
        f"<td class='sl-num'>{ours}</td>",
        f"<td>{criterion}</td>",
    ]
    if not check:
        alt = (f"{_fmt(c.alternative[0])} <span class='sl-id'>{esc(c.alternative[1])}</span>"
               if c.alternative else "—")
        cells.append(f"<td>{alt}</td>")
    cells.append(f"<td class='sl-note'>{esc(note)}</td>")
    return _one_line(f"<tr data-claim='{esc(c.id)}' data-verdict='{esc(c.verdict)}'>{''.join(cells)}</tr>")


def claims_tables(claims: Claims, profile: str, record: bool) -> tuple[str, str]:
    """(the counted claims' section, the checks' section), as markdown cells' text."""
    where = f"the {RECORD_WORDS}" if record else f"the {SMOKE_WORDS}"
    counted, checks = claims.counted, claims.checks
    head = ("<tr><th>Claim</th><th>Verdict</th><th>Statement and source</th>"
            "<th class='sl-num'>Paper</th><th class='sl-num'>Ours</th><th>Criterion</th>"
            "<th>Alternative</th><th>Note</th></tr>")
    rows = "".join(_claim_row(c, False) for c in counted)
    claims_md = (
        f"## Claims at the {profile} profile\n\n"
        f"The counted claims of {where}, as the notebook judged them (what each kind and "
        "verdict means: [how claims are judged](../methods/claims.md)). The *alternative* is "
        "the outcome that would mean not reproduced.\n\n"
        + ("<div class='sl-table-wrap' tabindex='0'><table class='sl-table sl-claims' id='claims-table'>"
           f"<thead>{head}</thead><tbody>{rows}</tbody></table></div>" if counted
           else "This notebook states no counted claim."))
    if not checks:
        return claims_md, ""
    chead = ("<tr><th>Check</th><th>Verdict</th><th>Statement and source</th>"
             "<th class='sl-num'>Paper</th><th class='sl-num'>Ours</th><th>Criterion</th>"
             "<th>Note</th></tr>")
    crows = "".join(_claim_row(c, True) for c in checks)
    checks_md = (
        "## Checks, not counted\n\n"
        "Bookkeeping, closed forms on typed constants and identities true by construction: "
        "they hold or fail, but cannot tell a right paper from a wrong one, so the scorecard "
        "does not count them.\n\n"
        "<div class='sl-table-wrap' tabindex='0'><table class='sl-table sl-claims sl-checks' id='checks-table'>"
        f"<thead>{chead}</thead><tbody>{crows}</tbody></table></div>")
    return claims_md, checks_md


# -- provenance ----------------------------------------------------------------------
def provenance_rows(nb: ExecutedNotebook, row: ScorecardRow | None,
                    claims: Claims | None, entry: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    run = nb.run
    entry = entry or {}
    prov = dict(run.get("provenance") or (claims.provenance if claims else {}) or {})
    git = prov.get("git") or {}
    rows: list[tuple[str, str]] = []
    commit = git.get("commit") or entry.get("commit")
    if commit:
        rows.append(("commit", _cell_code(commit[:12]) + (" (with uncommitted changes)" if git.get("dirty") else "")))
    else:
        rows.append(("commit", "unknown (not run from a git checkout)"))
    profile = run.get("profile") or prov.get("profile") or (row.profile if row else "")
    rows.append(("profile", _cell_code(profile or "—")))
    if entry:
        rows.append(("recorded", f"{entry.get('date') or '—'} (`make record`, results/{profile}/)"))
        machine = entry.get("machine") or {}
        if machine:
            rows.append(("machine", ", ".join(str(v) for v in (
                machine.get("cpu"), f"{machine['cores']} cores" if machine.get("cores") else None,
                machine.get("platform")) if v)))
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


def _verdict_line(counts: dict[str, int], claims: Claims | None, profile: str) -> str:
    judged, reproduced = counts.get("judged", 0), counts.get("reproduced", 0)
    line = (f"<strong>{reproduced} of {judged}</strong> judged claims reproduced at the "
            f"<code>{esc(profile or '—')}</code> profile")
    indicative = counts.get("indicative", 0)
    if indicative:
        wp = claims.would_pass if claims else counts.get("indicative_would_pass")
        profiles = sorted({c.min_profile for c in claims.counted if c.verdict == "indicative"}) if claims else []
        need = f", judged only at {' or '.join(profiles)}" if profiles else ", judged only at a larger profile"
        line += f"; {indicative} indicative{need}"
        if wp is not None:
            line += f": {wp} would pass, {indicative - wp} would fail"
    checks = counts.get("checks", len(claims.checks) if claims else 0)
    if checks:
        hold = counts.get("checks_hold", sum(c.verdict == "holds" for c in claims.checks) if claims else 0)
        line += (f". {_plural(checks, 'check')} (not counted): {hold} "
                 f"{'holds' if hold == 1 else 'hold'}")
        if checks - hold:
            line += f", {checks - hold} {'fails' if checks - hold == 1 else 'fail'}"
    return line


def paper_notebook(nb: ExecutedNotebook, row: ScorecardRow | None, claims: Claims | None,
                   entry: Paper | None, *, record: bool = False, status: str = "",
                   record_entry: dict[str, Any] | None = None) -> dict[str, Any]:
    """The executed notebook as its page shows it: a summary box after the title, the
    parameters shown once, an anchor before the scorecard cell, then the claims, the
    checks and the run's provenance at the end. ``record``: the notebook is the record's
    (else the smoke test's, and the box says so). The download link serves the notebook
    as it was executed, its images inline."""
    out = copy.deepcopy(nb.notebook)
    cells = out.setdefault("cells", [])
    # papermill's red banner on top of a failed notebook: the summary box says it instead,
    # with a link to the failing cell (papermill's anchor stays in place)
    error_anchor = any("papermill-error-cell" in _cell_text(c) for c in cells
                       if PAPERMILL_ERROR_TAG in _tags(c))
    while cells and PAPERMILL_ERROR_TAG in _tags(cells[0]) and \
            'id="papermill-error-cell"' not in _cell_text(cells[0]):
        cells.pop(0)
    if not cells or cells[0].get("cell_type") != "markdown" or not nb.title:
        title = (entry.title if entry else "") or (row.title if row else "") or nb.paper
        cells.insert(0, _md_cell(f"# {title_text(title)}", "sl-title"))
    else:
        # the summary box goes right under the title: the title cell's text follows it
        first = _cell_text(cells[0])
        head, _, rest = first.partition("\n")
        if head.startswith("# ") and rest.strip():
            cells[0] = {**cells[0], "source": head}
            cells.insert(1, _md_cell(rest.lstrip("\n"), "sl-title-rest"))
    cells[:] = merge_parameters(cells)
    for cell in cells:
        if cell.get("cell_type") == "markdown" and GLOSSARY:
            text = _cell_text(cell)
            linked = _link_terms(text)
            if linked != text:
                cell["source"] = linked

    counts = claims.counts if claims else (
        {"judged": row.claims_judged, "reproduced": row.claims_reproduced,
         "indicative": row.claims_indicative, "checks": row.checks,
         "checks_hold": row.checks_hold} if row else {})
    profile = nb.run.get("profile") or (row.profile if row else "") or (claims.profile if claims else "")
    device = nb.run.get("device") or (row.device if row else "")
    run_status = row.status if row else "ok"

    finish = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"
                   and "run.finish()" in _cell_text(c)), None)
    claims_md, checks_md = claims_tables(claims, profile, record) if claims else ("", "")
    links = [f"<a href='../notebooks/{nb.paper}.ipynb' download>Download the executed notebook</a>"]
    if claims_md:
        links.append("<a href='#claims-table'>Claims</a>")
    if checks_md:
        links.append("<a href='#checks-table'>Checks</a>")
    if finish is not None:
        links.append("<a href='#scorecard-cell'>The notebook's scorecard</a>")
    if entry and entry.arxiv:
        links.append(f"<a href='{entry.arxiv_url}'>arXiv:{esc(entry.arxiv)}</a>")
    if entry:
        links.append(f"<a href='../catalogue.html#paper-{esc(entry.id)}'>Catalogue entry</a>")
    if run_status == "failed":
        verdict = (f"<strong>This notebook failed</strong>: {esc(row.error if row else '')}. "
                   "It stopped before writing its scorecard")
        if error_anchor:
            links.insert(0, "<a href='#papermill-error-cell'>Go to the error</a>")
    elif counts:
        verdict = _verdict_line(counts, claims, profile)
    else:
        verdict = "No claims file was found for this run"
    if record:
        when = (record_entry or {}).get("date") or (row.date if row else "")
        source = (f"<div class='sl-source'>From the <strong>{RECORD_WORDS}</strong> at the "
                  f"<code>{esc(profile)}</code> profile" + (f", recorded {esc(when)}" if when else "")
                  + f" · device <code>{esc(device or '—')}</code>"
                  + (f" · status {_status_badge(status)}" if status else "") + "</div>")
    else:
        source = ("<div class='sl-source sl-notice'><strong>Smoke test, not a result</strong>: this "
                  "page shows the <code>ci</code> run (a tiny grid, to show the notebook runs end "
                  "to end). There is no record of this paper yet: <code>make record</code> writes "
                  f"one. Device <code>{esc(device or '—')}</code>.</div>")
    sections = _sections(cells)
    extra = [("Claims", "claims-table")] if claims_md else []
    extra += [("Checks", "checks-table")] if checks_md else []
    contents = " · ".join(f"<a href='#{anchor}'>{esc(title)}</a>"
                          for title, anchor in sections + extra + [("Run provenance", "run-provenance")])
    box = _one_line(f"<div class='sl-paper-summary sl-run-{esc(run_status)}'>"
           f"<div class='sl-verdict-line'>{verdict}.</div>{source}"
           f"<div class='sl-links'>{' · '.join(links)}</div>"
           f"<div class='sl-links sl-contents'>On this page: {contents}</div></div>")
    cells.insert(1, _md_cell(box, "sl-summary"))
    if finish is not None:
        finish = next(i for i, c in enumerate(cells) if c.get("cell_type") == "code"
                      and "run.finish()" in _cell_text(c))
        cells.insert(finish, _md_cell("<span id='scorecard-cell'></span>", "sl-scorecard-anchor"))
    if claims_md:
        cells.append(_md_cell(claims_md, "sl-claims"))
    if checks_md:
        cells.append(_md_cell(checks_md, "sl-checks"))

    table = ["| field | value |", "|---|---|"]
    table += [f"| {k} | {v} |" for k, v in provenance_rows(nb, row, claims, record_entry)]
    cells.append(_md_cell("## Run provenance\n\nWhat produced the outputs on this page, from the "
                          "executed notebook's metadata" + (" and the record" if record else "")
                          + ".\n\n" + "\n".join(table), "sl-provenance"))
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
