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
    """Scatter of ours against the paper's value, with y = x, saved as PNG."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    values = [v for p in points for v in (p.paper_value, p.ours, *(p.ours_interval or ()),
                                           *(p.paper_interval or ()))]
    # exponents spanning more than a decade and a half read better on log axes
    log_axes = min(values) > 0 and max(values) / min(values) > 30
    if log_axes:
        lo, hi = min(values) / 1.3, max(values) * 1.3
    else:
        lo, hi = min(values + [0.0]), max(values)
        pad = 0.08 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
    with plt.rc_context({"font.size": 10, "svg.hashsalt": "scalinglab"}):
        fig, ax = plt.subplots(figsize=(5.6, 5.0), dpi=150)
        ax.plot([lo, hi], [lo, hi], color="#8c959f", linewidth=1, linestyle="--", zorder=1,
                label="ours = paper")
        for verdict, colour in VERDICT_COLOURS.items():
            group = [p for p in points if p.verdict == verdict]
            if not group:
                continue
            for p in group:
                xerr = ([[p.paper_value - p.paper_interval[0]], [p.paper_interval[1] - p.paper_value]]
                        if p.paper_interval else None)
                yerr = ([[max(p.ours - p.ours_interval[0], 0.0)], [max(p.ours_interval[1] - p.ours, 0.0)]]
                        if p.ours_interval else None)
                ax.errorbar(p.paper_value, p.ours, xerr=xerr, yerr=yerr, fmt="none",
                            ecolor=colour, elinewidth=1, alpha=0.7, zorder=2)
                ax.annotate(str(p.number), (p.paper_value, p.ours), textcoords="offset points",
                            xytext=(5, 4), fontsize=8, color="#24292f")
            ax.scatter([p.paper_value for p in group], [p.ours for p in group], color=colour,
                       marker=VERDICT_MARKERS[verdict], s=36, zorder=3, label=verdict)
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
        ax.legend(loc="upper left", frameon=False, fontsize=9)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, metadata={"Software": None})
        plt.close(fig)
