"""The home page's exponent plot: our fitted exponents against the papers' values.

A point is a claim tagged "exponent" that has both a paper value and a computed value.
Points sit on the diagonal when we reproduce the paper's number; error bars are the
intervals the claims carry (ours: bootstrap; the paper's: its reported interval).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scalinglab.site.inputs import Claims

VERDICT_COLOURS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "indicative": "#9a6700"}
VERDICT_MARKERS = {"reproduced": "o", "not reproduced": "X", "indicative": "s"}


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


def exponent_points(all_claims: list[Claims]) -> list[ExponentPoint]:
    points = []
    for claims in all_claims:
        for c in claims.claims:
            if "exponent" in c.tags and c.paper_value is not None and c.ours is not None:
                points.append(ExponentPoint(
                    number=len(points) + 1, paper=claims.paper, claim=c.id, statement=c.statement,
                    paper_value=c.paper_value, paper_interval=c.paper_interval, ours=c.ours,
                    ours_interval=c.ours_interval, verdict=c.verdict, paper_source=c.paper_source))
    return points


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
            y, marker = p.ours, VERDICT_MARKERS[p.verdict]
            if not lo <= y <= hi:
                y, marker = (hi, "^") if y > hi else (lo, "v")
            ax.scatter([p.paper_value], [y], marker=marker, s=44, zorder=3, clip_on=False,
                       facecolors="white" if hollow else [c], edgecolors=[c], linewidths=1.4)
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
        paper_handles = [Line2D([], [], marker="o", linestyle="", color=colour[paper], label=paper)
                         for paper in papers]
        verdict_handles = [Line2D([], [], linestyle="--", color="#8c959f", label="ours = paper")]
        verdict_handles += [
            Line2D([], [], marker=VERDICT_MARKERS[v], linestyle="", markerfacecolor="white" if v == "indicative"
                   else "#57606a", markeredgecolor="#57606a", color="#57606a", label=v)
            for v in VERDICT_MARKERS if any(p.verdict == v for p in points)]
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
