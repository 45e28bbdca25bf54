"""Hoffmann et al. 2022's Approaches 1 and 2.

Approach 2 (IsoFLOP profiles): for each compute budget, the final losses of models of
different sizes trained with that budget trace a valley in log N; a parabola (or a
smoothing spline) through it gives the loss-optimal N*(C); D*(C) = C / (6 N*). Power
laws N* = k C^a and D* = k' C^b are then fitted across budgets.

Approach 1 (lower envelope): along every training curve the compute used so far is
C = 6 N D; at each of many log-spaced compute values, the run with the lowest loss
marks the best model size for that compute. Power laws through these points give a, b.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from scalinglab.fit.api import FitDataError, loglog_slope
from scalinglab.fit.result import FitResult


def _check_frame(frame: Any, cols: list[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise FitDataError(f"missing column(s) {', '.join(map(repr, missing))} "
                           f"(columns: {', '.join(map(str, frame.columns))})")
    for c in cols:
        vals = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(vals)):
            raise FitDataError(f"column {c!r} has NaN/inf or non-numeric values")
        if np.any(vals <= 0):
            raise FitDataError(f"column {c!r} has non-positive values")
    return frame


def isoflop_minimum(logN: np.ndarray, loss: np.ndarray, method: str = "parabola") -> tuple[float, float, bool]:
    """(log N*, loss at N*, interior) for one IsoFLOP profile. ``interior`` is False when
    the minimum is not bracketed by the sampled sizes (then N* is an extrapolation or
    an endpoint and should not be trusted)."""
    order = np.argsort(logN)
    x, y = logN[order], loss[order]
    if method == "parabola":
        if x.size < 3:
            raise FitDataError("a parabola needs at least 3 model sizes per budget")
        c2, c1, c0 = np.polyfit(x, y, 2)
        if c2 <= 0:
            i = int(np.argmin(y))
            return float(x[i]), float(y[i]), False
        xm = -c1 / (2 * c2)
        return float(xm), float(c0 + c1 * xm + c2 * xm * xm), bool(x[0] < xm < x[-1])
    if method == "spline":
        from scipy.interpolate import UnivariateSpline
        if x.size < 4:
            raise FitDataError("a spline needs at least 4 model sizes per budget")
        k = 3 if x.size >= 5 else 2
        spl = UnivariateSpline(x, y, k=k, s=len(x) * np.var(y) * 1e-3)
        fine = np.linspace(x[0], x[-1], 2001)
        vals = spl(fine)
        i = int(np.argmin(vals))
        return float(fine[i]), float(vals[i]), bool(0 < i < len(fine) - 1)
    raise ValueError(f"method={method!r} is not 'parabola' or 'spline'")


@dataclass
class IsoFlopResult:
    """Per-budget optima and the fitted exponents: N* ∝ C^a, D* ∝ C^b."""

    minima: pd.DataFrame
    fit_N: FitResult
    fit_D: FitResult
    method: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def a(self) -> float:
        return self.fit_N.params["slope"]

    @property
    def b(self) -> float:
        return self.fit_D.params["slope"]

    @property
    def a_interval(self):
        return self.fit_N.intervals.get("slope")

    @property
    def b_interval(self):
        return self.fit_D.intervals.get("slope")

    def N_opt(self, C: Any) -> np.ndarray:
        return np.exp(self.fit_N.params["intercept"]) * np.asarray(C, dtype=float) ** self.a

    def D_opt(self, C: Any) -> np.ndarray:
        return np.exp(self.fit_D.params["intercept"]) * np.asarray(C, dtype=float) ** self.b

    def summary(self) -> str:
        def iv(x):
            return "" if x is None else f" [{x[0]:.3g}, {x[1]:.3g}]"
        return (f"{self.method}: a = {self.a:.4g}{iv(self.a_interval)}, b = {self.b:.4g}{iv(self.b_interval)} "
                f"over {len(self.minima)} budgets")

    def __str__(self) -> str:
        return self.summary()


def isoflop_approach2(frame: Any, *, budget: str = "C", size: str = "N", loss: str = "loss",
                      method: str = "parabola", flops: Callable[[Any, Any], Any] | None = None,
                      min_points: int = 3, bootstrap: int = 0, seed: int = 0,
                      verbose: bool = True) -> IsoFlopResult:
    """Approach 2 on a frame with one row per run: its budget (column ``budget``, the
    same value for every run of an IsoFLOP profile), model size and final loss.
    D* = C/(6 N*) unless ``flops(N, D)`` is given (then D* solves flops(N*, D*) = C for
    the linear-in-D case flops = k(N) D). Budgets with fewer than ``min_points`` runs or
    an unbracketed minimum are dropped (listed in ``minima`` with ``used = False``)."""
    frame = _check_frame(frame, [budget, size, loss])
    rows = []
    for C, group in frame.groupby(budget, sort=True):
        if len(group) < min_points:
            rows.append({"C": float(C), "N_opt": np.nan, "D_opt": np.nan, "loss_opt": np.nan,
                         "n_runs": len(group), "interior": False, "used": False})
            continue
        lx, lopt, interior = isoflop_minimum(np.log(group[size].to_numpy(float)),
                                             group[loss].to_numpy(float), method)
        N = float(np.exp(lx))
        D = float(C) / (6.0 * N) if flops is None else float(C) / float(flops(N, 1.0))
        rows.append({"C": float(C), "N_opt": N, "D_opt": D, "loss_opt": lopt,
                     "n_runs": len(group), "interior": interior, "used": interior})
    minima = pd.DataFrame(rows)
    used = minima[minima["used"]]
    if len(used) < 2:
        raise FitDataError(f"Approach 2 needs at least 2 budgets with a bracketed minimum, got {len(used)}")
    fit_N = loglog_slope(used["C"], used["N_opt"], bootstrap=bootstrap, seed=seed)
    fit_D = loglog_slope(used["C"], used["D_opt"], bootstrap=bootstrap, seed=seed)
    res = IsoFlopResult(minima=minima, fit_N=fit_N, fit_D=fit_D, method=f"Approach 2 ({method})",
                        settings={"method": method, "budgets": int(len(minima)), "used": int(len(used)),
                                  "bootstrap": bootstrap, "seed": seed,
                                  "flops": "6ND" if flops is None else "custom"})
    if verbose:
        print(f"IsoFLOP Approach 2 · {method} per budget in log N · {len(used)} of {len(minima)} budgets "
              f"bracket their minimum · D* = C/(6N*) · power laws by OLS in log-log"
              + (f" · bootstrap {bootstrap} over budgets (seed {seed})" if bootstrap else ""))
        print("  " + res.summary())
    return res


def envelope_approach1(curves: Any, *, run: str = "run_id", size: str = "N", compute: str = "C",
                       loss: str = "loss", n_grid: int = 200, bootstrap: int = 0, seed: int = 0,
                       verbose: bool = True) -> IsoFlopResult:
    """Approach 1 on a long frame of training curves: one row per (run, step) with the
    run's model size, the compute used so far (6 N D_seen) and the loss. At each of
    ``n_grid`` log-spaced compute values the run with the lowest (log-interpolated) loss
    gives N*(C); D* = C/(6 N*)."""
    curves = _check_frame(curves, [size, compute, loss])
    if run not in curves.columns:
        raise FitDataError(f"missing column {run!r} naming each training run")
    per_run = []
    for rid, g in curves.groupby(run, sort=True):
        g = g.sort_values(compute)
        per_run.append((float(g[size].iloc[0]), np.log(g[compute].to_numpy(float)), g[loss].to_numpy(float)))
    lo = min(r[1][0] for r in per_run)
    hi = max(r[1][-1] for r in per_run)
    grid = np.linspace(lo, hi, n_grid)
    rows = []
    for lc in grid:
        best_N, best_L = None, np.inf
        for N, lcs, ls in per_run:
            if lcs[0] <= lc <= lcs[-1]:
                val = float(np.interp(lc, lcs, ls))
                if val < best_L:
                    best_N, best_L = N, val
        if best_N is not None:
            C = float(np.exp(lc))
            rows.append({"C": C, "N_opt": best_N, "D_opt": C / (6 * best_N), "loss_opt": best_L,
                         "used": True})
    minima = pd.DataFrame(rows)
    # the envelope at the very ends is decided by a single run: keep budgets at which
    # at least two runs compete
    counts = [sum(lcs[0] <= np.log(c) <= lcs[-1] for _, lcs, _ in per_run) for c in minima["C"]]
    minima["n_runs"] = counts
    minima["used"] = minima["n_runs"] >= 2
    used = minima[minima["used"]]
    if len(used) < 2 or used["N_opt"].nunique() < 2:
        raise FitDataError("Approach 1 needs the envelope to pass through at least 2 model sizes")
    fit_N = loglog_slope(used["C"], used["N_opt"], bootstrap=bootstrap, seed=seed)
    fit_D = loglog_slope(used["C"], used["D_opt"], bootstrap=bootstrap, seed=seed)
    res = IsoFlopResult(minima=minima, fit_N=fit_N, fit_D=fit_D, method="Approach 1 (envelope)",
                        settings={"n_grid": n_grid, "bootstrap": bootstrap, "seed": seed})
    if verbose:
        print(f"Approach 1 · lower envelope of {len(per_run)} training curves at {n_grid} log-spaced "
              f"FLOP values · D* = C/(6N*) · power laws by OLS in log-log")
        print("  " + res.summary())
    return res
