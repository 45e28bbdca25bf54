"""The home page's exponent plot: our fitted exponents against the papers' values.

A point is a counted claim (refit, rerun, theory; checks are left out) tagged "exponent"
that has both a paper value and a computed value. Points sit on the diagonal when we
reproduce the paper's number; error bars are the intervals the claims carry (ours:
bootstrap; the paper's: its reported interval). Colour says which paper a point is
from (named as in its citation), the marker its verdict.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scalinglab.site.inputs import Claims

# the plot's verdict classes: an indicative claim says whether it would pass
PLOT_VERDICTS = ("reproduced", "not reproduced", "indicative, would pass", "indicative, would fail")
VERDICT_COLOURS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "indicative": "#9a6700"}
VERDICT_MARKERS = {"reproduced": "o", "not reproduced": "X", "indicative, would pass": "s",
                   "indicative, would fail": "D"}
# drawn in this order, bottom to top: a miss is never hidden under a match
VERDICT_ZORDER = {"indicative, would pass": 3, "indicative, would fail": 3.2, "reproduced": 4,
                  "not reproduced": 6}
MARKER_WORDS = {"reproduced": "filled circles", "not reproduced": "filled crosses",
                "indicative, would pass": "hollow squares", "indicative, would fail": "hollow diamonds"}


def short_name(citation: str, fallback: str = "") -> str:
    """'Kaplan et al. 2020, arXiv:...' -> 'Kaplan et al. 2020'; 'Bahri, Dyer, Kaplan 2021'
    -> 'Bahri et al. 2021'; the fallback when the citation has no year."""
    first = (citation or "").split(";")[0]
    year = re.search(r"\b(19|20)\d\d\b", first)
    if not year:
        return fallback or citation
    authors = first[:year.start()].strip().rstrip(",").strip()
    if not authors:
        return fallback or citation
    if "et al" in authors:
        return f"{authors.split('et al')[0].strip()} et al. {year.group(0)}"
    names = [a.strip() for a in re.split(r",| and | & ", authors) if a.strip()]
    if len(names) == 1:
        return f"{names[0]} {year.group(0)}"
    if len(names) == 2:
        return f"{names[0]} & {names[1]} {year.group(0)}"
    return f"{names[0]} et al. {year.group(0)}"


@dataclass(frozen=True)
class ExponentPoint:
    number: int  # the label drawn beside the point and shown in the table
    paper: str
    claim: str
    statement: str
    paper_value: float
    paper_interval: tuple[float, float] | None
    ours: float
    ours_interval: tuple[float, float] | None
    verdict: str
    paper_source: str
    name: str = ""  # the paper as its citation names it ("Kaplan et al. 2020")
    passes: bool = False  # for an indicative claim: whether it would pass
    min_profile: str = ""

    @property
    def plot_verdict(self) -> str:
        if self.verdict == "indicative":
            return "indicative, would pass" if self.passes else "indicative, would fail"
        return self.verdict

    @property
    def verdict_text(self) -> str:
        if self.verdict == "indicative":
            return "indicative (would pass)" if self.passes else "indicative (would fail)"
        return self.verdict


def exponent_points(all_claims: list[Claims]) -> list[ExponentPoint]:
    points = []
    for claims in all_claims:
        name = short_name(claims.citation, claims.title or claims.paper)
        for c in claims.claims:
            if (c.counted and "exponent" in c.tags and c.paper_value is not None
                    and c.ours is not None and c.verdict in ("reproduced", "not reproduced", "indicative")):
                points.append(ExponentPoint(
                    number=len(points) + 1, paper=claims.paper, claim=c.id, statement=c.statement,
                    paper_value=c.paper_value, paper_interval=c.paper_interval, ours=c.ours,
                    ours_interval=c.ours_interval, verdict=c.verdict, paper_source=c.paper_source,
                    name=name, passes=c.passes, min_profile=c.min_profile))
    return points


def alt_text(points: list[ExponentPoint], profile: str) -> str:
    """What the plot draws, in words, for its alt attribute."""
    counts = {v: sum(p.plot_verdict == v for p in points) for v in PLOT_VERDICTS}
    parts = [f"{n} {v} ({MARKER_WORDS[v]})" for v, n in counts.items() if n]
    names = list(dict.fromkeys(p.name or p.paper for p in points))
    misses = [f"{p.name or p.paper} {p.claim}" for p in points if p.verdict == "not reproduced"]
    text = (f"Scatter plot of {len(points)} exponents at the {profile} profile: the paper's "
            f"published value across, our fitted value up, with a dashed line where they are "
            f"equal and bars for the intervals. Markers give the verdict: {', '.join(parts)}. "
            f"Colour gives the paper: {', '.join(names)}.")
    if misses:
        text += f" Not reproduced: {', '.join(misses)}."
    return text


def draw_exponent_plot(points: list[ExponentPoint], path: Path) -> None:
    """Scatter of ours against the paper's value with y = x, saved as PNG. Colour says
    which paper a point is from, the marker its verdict (hollow: indicative)."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    # the axes fit the points, not their intervals: one very wide interval (a small
    # profile's bootstrap) would squash every other point; its bar runs off the plot
    # Likewise an indicative value far from every paper value (a ci-profile fit on a
    # tiny grid) is drawn at the edge of the plot, as a triangle pointing off it.
    anchors = [p.paper_value for p in points] + [p.ours for p in points if p.verdict != "indicative"]
    span = (max(anchors) - min(anchors)) or 1.0
    values = anchors + [p.ours for p in points if p.verdict == "indicative"
                        and min(anchors) - span <= p.ours <= max(anchors) + span]
    # exponents spanning more than a decade and a half read better on log axes
    log_axes = min(values) > 0 and max(values) / min(values) > 30
    if log_axes:
        lo, hi = min(values) / 1.3, max(values) * 1.3
    else:
        lo, hi = min(values + [0.0]), max(values)
        pad = 0.1 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
    papers = list(dict.fromkeys(p.paper for p in points))
    names = {p.paper: p.name or p.paper for p in points}
    palette = plt.get_cmap("tab10").colors
    colour = {paper: palette[i % len(palette)] for i, paper in enumerate(papers)}
    with plt.rc_context({"font.size": 10, "font.family": "DejaVu Sans"}):
        fig, ax = plt.subplots(figsize=(8.4, 5.2), dpi=150)
        ax.plot([lo, hi], [lo, hi], color="#8c959f", linewidth=1, linestyle="--", zorder=1)
        for p in points:
            c = colour[p.paper]
            xerr = ([[max(p.paper_value - p.paper_interval[0], 0.0)],
                     [max(p.paper_interval[1] - p.paper_value, 0.0)]] if p.paper_interval else None)
            yerr = ([[max(p.ours - p.ours_interval[0], 0.0)], [max(p.ours_interval[1] - p.ours, 0.0)]]
                    if p.ours_interval else None)
            # an interval need not contain its point estimate (a paper's range for a rounded
            # value, say): its bar then starts at the point
            ax.errorbar(p.paper_value, p.ours, xerr=xerr, yerr=yerr, fmt="none", ecolor=c,
                        elinewidth=1, alpha=0.6, zorder=2)
            hollow = p.verdict == "indicative"
            y, marker = p.ours, VERDICT_MARKERS[p.plot_verdict]
            if not lo <= y <= hi:
                y, marker = (hi, "^") if y > hi else (lo, "v")
            miss = p.verdict == "not reproduced"
            # a miss is drawn last and larger, with a dark outline, so no match hides it
            ax.scatter([p.paper_value], [y], marker=marker, s=70 if miss else 44,
                       zorder=VERDICT_ZORDER[p.plot_verdict], clip_on=False,
                       facecolors="white" if hollow else [c],
                       edgecolors=["#24292f"] if miss else [c], linewidths=1.0 if miss else 1.4)
        if log_axes:
            from matplotlib.ticker import FuncFormatter
            ax.set_xscale("log")
            ax.set_yscale("log")
            plain = FuncFormatter(lambda v, _pos: f"{v:g}")
            ax.xaxis.set_major_formatter(plain)
            ax.yaxis.set_major_formatter(plain)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel("paper's exponent")
        ax.set_ylabel("our fitted exponent")
        ax.grid(True, color="#d0d7de", linewidth=0.6)
        paper_handles = [Line2D([], [], marker="o", linestyle="", color=colour[paper],
                                label=names[paper]) for paper in papers]
        verdict_handles = [Line2D([], [], linestyle="--", color="#8c959f", label="ours = paper")]
        verdict_handles += [
            Line2D([], [], marker=VERDICT_MARKERS[v], linestyle="",
                   markerfacecolor="white" if v.startswith("indicative") else "#57606a",
                   markeredgecolor="#57606a", color="#57606a", label=v)
            for v in PLOT_VERDICTS if any(p.plot_verdict == v for p in points)]
        first = ax.legend(handles=paper_handles, title="paper", loc="upper left",
                          bbox_to_anchor=(1.03, 1.0), frameon=False, fontsize=9, title_fontsize=9,
                          alignment="left")
        ax.add_artist(first)
        second = ax.legend(handles=verdict_handles, title="verdict", loc="lower left", bbox_to_anchor=(1.03, 0.0),
                  frameon=False, fontsize=9, title_fontsize=9, alignment="left")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, metadata={"Software": None}, bbox_inches="tight",
                    bbox_extra_artists=[first, second], pad_inches=0.15)
        plt.close(fig)
