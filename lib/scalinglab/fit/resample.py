"""Bootstrap intervals for statistics of repeated runs (seeds, trials, chains).

    lo, hi = bootstrap_interval(lambda a, b: a.mean() / b.mean(), errors_easy, errors_hard,
                                n_boot=1000, seed=0)

The rows of all samples are resampled together (row i of each sample belongs to the same
run), from a generator of the function's own, so an interval does not depend on what
else the caller drew. A resample whose statistic is not finite (a fit without a value)
is dropped; the interval is None when fewer than half the resamples have a value.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


def bootstrap_interval(stat: Callable[..., Any], *samples: Any, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of ``stat(*samples)`` over ``n_boot`` resamples of the rows."""
    if not samples:
        raise ValueError("bootstrap_interval needs at least one sample")
    arrays = [np.asarray(x) for x in samples]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"samples must have the same number of rows, got {[len(a) for a in arrays]}")
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 rows, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(int(n_boot), n))
    values = np.array([stat(*(a[r] for a in arrays)) for r in rows], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < n_boot / 2:
        return None
    tail = 50 * (1 - level)
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)
