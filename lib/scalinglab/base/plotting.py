"""One plot style for the whole suite, log-log helpers and figure saving."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import matplotlib

PALETTE = "colorblind"


def use_style() -> None:
    """Seaborn's paper-friendly theme with our defaults; deterministic SVG output."""
    import seaborn as sns
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update({
        "figure.figsize": (6.4, 4.2),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "legend.frameon": False,
        "svg.hashsalt": "scalinglab",  # stable element ids in SVG files
        "svg.fonttype": "path",
    })


def _log_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(value, _pos):
        if value <= 0:
            return ""
        exponent = int(round(__import__("math").log10(value)))
        if abs(value - 10.0 ** exponent) > 1e-9 * value:
            return f"{value:g}"
        if -2 <= exponent <= 3:
            return f"{value:g}"
        return rf"$10^{{{exponent}}}$"

    return FuncFormatter(fmt)


def loglog(ax, x: bool = True, y: bool = True, minor_labels: bool = False):
    """Log scales with readable tick labels (1, 10, 100, 10^4 …)."""
    from matplotlib.ticker import LogLocator, NullFormatter
    for on, axis, setter in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if not on:
            continue
        setter("log")
        axis.set_major_locator(LogLocator(base=10))
        axis.set_major_formatter(_log_formatter())
        if not minor_labels:
            axis.set_minor_formatter(NullFormatter())
    return ax


def power_law_guide(ax, x: Iterable[float], coefficient: float, exponent: float,
                    offset: float = 0.0, **kwargs):
    """Draw y = offset + coefficient * x**exponent over the given x values."""
    import numpy as np
    xs = np.asarray(list(x), dtype=float)
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("linewidth", 1.2)
    return ax.plot(xs, offset + coefficient * xs ** exponent, **kwargs)


def save_figure(fig, out_dir: str | os.PathLike, paper: str, name: str) -> list[Path]:
    """Save ``fig`` as PNG and SVG under ``out_dir/figures/<paper>/``."""
    folder = Path(out_dir) / "figures" / paper
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = folder / f"{name}.{ext}"
        # No creation date or software version in the files: reruns give the same bytes.
        meta = {"Date": None} if ext == "svg" else {"Software": None}
        fig.savefig(path, metadata=meta)
        paths.append(path)
    return paths
