"""Hoffmann et al. 2022's Approaches 1 and 2: the compute-optimal N*(C) and D*(C).

Approach 2 (IsoFLOP profiles), :func:`isoflop_approach2`: the runs of one compute
budget (one value of the ``C`` column) trace a valley of final loss in log N; a
parabola (or a smoothing spline) through it gives the loss-optimal N* at that budget.
The optimal tokens D* at the budget come one of two ways, named by ``tokens=``:

- ``"6ND"``: D* = C / (6 N*), the budget spent on the optimal model (or
  C / flops(N*, 1) for a FLOP count ``flops(N, D)`` linear in D). Needs no tokens
  column, and forces a + b = 1.
- ``"fit"``: D* is read off its own valley: a parabola (or spline) of the same losses
  against log D over the same budget group. Needs the tokens column (role ``D``).
  Use it when the budget column is the real compute and 6·N·D is not (Marin's
  budgets differ from 6ND by up to 40%): D* is then the tokens of the best run
  as trained, not what 6ND says they should have been.

Approach 1 (lower envelope), :func:`envelope_approach1`: along every training curve
the compute used so far grows with the tokens seen; at each of many log-spaced compute
values the run with the lowest loss marks the best model size for that compute.

In both, the exponents are the signed OLS slopes of log N* and log D* on log C
(N* ∝ C^a, D* ∝ C^b, positive for growing quantities), with a percentile bootstrap over
the per-budget optima (Approach 2) or the envelope's points (Approach 1). Results are
:class:`IsoFlopResult`: ``.a``, ``.b``, their intervals, the per-budget ``minima``.

Columns are named by role, as everywhere in scalinglab: ``columns={"C": "flops",
"N": "params", "D": "tokens", "loss": "val_loss", "run": "run_id"}``; a role not
mapped is read from the column of its own name.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from scalinglab.fit.api import FitDataError, check_columns, loglog_slope
from scalinglab.fit.result import FitResult, _jsonable

TOKENS = ("6ND", "fit")
METHODS = ("parabola", "spline")
MIN_BUDGETS = 3  # loglog_slope's fewest points: a slope, an intercept and one residual
MISMATCH_TOL = 0.10  # 6·N·D vs the budget column: warn beyond this relative difference
MINIMA_COLUMNS = ["C", "N_opt", "D_opt", "loss_opt", "n_runs", "interior", "used", "reason"]

_ROLE_WORDS = {"C": "compute budget", "N": "parameters", "D": "tokens", "loss": "the target",
               "run": "run id"}


# ----------------------------------------------------------------------------------
# One profile
# ----------------------------------------------------------------------------------
class Vertex(NamedTuple):
    """The extremum of a least-squares parabola y ≈ c2·x² + c1·x + c0.

    ``x``, ``y``: the vertex when ``convex`` (c2 > 0), else the sampled point with the
    lowest y (a parabola opening downward has no minimum). ``interior``: convex and the
    vertex strictly inside the sampled range of x (a minimum outside it is an
    extrapolation)."""

    x: float
    y: float
    convex: bool
    interior: bool


def parabola_vertex(x: Any, y: Any) -> Vertex:
    """The minimum of the least-squares parabola through (x, y) (``np.polyfit(x, y, 2)``):
    a :class:`Vertex` (x_min, y_min, convex, interior). For an IsoFLOP profile pass x =
    log N. The points are used in the order given (no sorting), so the vertex is the
    one ``c2, c1, _ = np.polyfit(x, y, 2); -c1 / (2 * c2)`` gives, to the last bit."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise FitDataError(f"parabola_vertex needs two 1-d arrays of the same length, "
                           f"got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise FitDataError("parabola_vertex: x and y must be finite")
    if np.unique(x).size < 3:
        raise FitDataError(f"a parabola needs at least 3 distinct x values, got {np.unique(x).size}")
    c2, c1, c0 = np.polyfit(x, y, 2)
    if not c2 > 0:
        i = int(np.argmin(y))
        return Vertex(float(x[i]), float(y[i]), False, False)
    xm = -c1 / (2 * c2)
    return Vertex(float(xm), float(c0 + c1 * xm + c2 * xm * xm), True, bool(x.min() < xm < x.max()))


def isoflop_minimum(logx: np.ndarray, loss: np.ndarray, method: str = "parabola") -> tuple[float, float, bool]:
    """(log x*, loss at x*, interior) for one IsoFLOP profile of ``loss`` against
    ``logx`` (log N or log D), by a ``"parabola"`` or a smoothing ``"spline"``.
    ``interior`` is False when the minimum is not bracketed by the sampled sizes (then
    x* is an extrapolation or an endpoint and should not be trusted) or when the
    parabola opens downward (x* is then the lowest sampled point)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    logx = np.asarray(logx, dtype=float)
    loss = np.asarray(loss, dtype=float)
    order = np.argsort(logx)
    x, y = logx[order], loss[order]
    if method == "parabola":
        if x.size < 3:
            raise FitDataError("a parabola needs at least 3 model sizes per budget")
        v = parabola_vertex(x, y)
        return v.x, v.y, v.interior
    from scipy.interpolate import UnivariateSpline
    if np.unique(x).size != x.size:  # repeated sizes (seeds): their mean loss
        ux, inv = np.unique(x, return_inverse=True)
        y = np.bincount(inv, weights=y) / np.bincount(inv)
        x = ux
    if x.size < 4:
        raise FitDataError("a spline needs at least 4 model sizes per budget")
    k = 3 if x.size >= 5 else 2
    spl = UnivariateSpline(x, y, k=k, s=len(x) * np.var(y) * 1e-3)
    fine = np.linspace(x[0], x[-1], 2001)
    vals = spl(fine)
    i = int(np.argmin(vals))
    return float(fine[i]), float(vals[i]), bool(0 < i < len(fine) - 1)


def _profile(logx: np.ndarray, loss: np.ndarray, method: str, role: str) -> tuple[float, float, bool, str]:
    """(log x*, loss*, usable, reason) for one budget's profile along ``role``; reason
    is "" when usable."""
    n = logx.size
    distinct = np.unique(logx).size
    need = 3 if method == "parabola" else 4
    if distinct < need:
        what = (f"all {n} runs have the same {role}" if distinct == 1
                else f"{n} runs but only {distinct} distinct {role} values")
        return math.nan, math.nan, False, f"degenerate: {what} (a {method} needs {need})"
    if method == "parabola":
        order = np.argsort(logx)
        v = parabola_vertex(logx[order], loss[order])  # as isoflop_minimum does
        if not v.convex:
            return v.x, v.y, False, f"no minimum: the parabola in log {role} opens downward"
        lx, lopt, interior = v.x, v.y, v.interior
    else:
        lx, lopt, interior = isoflop_minimum(logx, loss, method)
    if interior:
        return lx, lopt, True, ""
    lo, hi = float(np.exp(logx.min())), float(np.exp(logx.max()))
    return lx, lopt, False, (f"minimum not bracketed: {role}* = {math.exp(lx):.3g} at or beyond the "
                             f"sampled {role} range {lo:.3g}..{hi:.3g}")


# ----------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------
def _frame(frame: Any) -> pd.DataFrame:
    if frame is None:
        raise FitDataError("no runs: the frame is empty")
    if not isinstance(frame, pd.DataFrame):
        if not isinstance(frame, Mapping):
            raise FitDataError(f"data must be a DataFrame or a mapping of columns, got {type(frame).__name__}")
        frame = pd.DataFrame(frame)
    if len(frame) == 0:
        raise FitDataError("no runs: the frame is empty")
    return frame


def _columns(columns: Mapping[str, str] | None, roles: tuple[str, ...], where: str) -> dict[str, str]:
    """role -> column name, every role of ``roles`` filled (a role not mapped is read
    from the column of its own name); an unknown role is a ValueError."""
    given = check_columns(columns, roles, where)
    return {r: given.get(r, r) for r in roles}


def _missing(frame: pd.DataFrame, role: str, name: str) -> FitDataError:
    cols = ", ".join(map(str, frame.columns))
    return FitDataError(f"missing column {name!r} for role {role} ({_ROLE_WORDS[role]}); "
                        f"the frame has columns: {cols}")


def _values(frame: pd.DataFrame, role: str, name: str, *, positive: bool = True,
            allow_missing: bool = False) -> np.ndarray:
    if name not in frame.columns:
        raise _missing(frame, role, name)
    vals = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    if allow_missing:
        return vals
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        rows = ", ".join(map(str, bad[:5])) + (" ..." if bad.size > 5 else "")
        raise FitDataError(f"column {name!r} (role {role}) has {bad.size} missing, non-numeric or "
                           f"infinite value(s) (rows {rows})")
    if positive:
        nonpos = np.flatnonzero(vals <= 0)
        if nonpos.size:
            rows = ", ".join(map(str, nonpos[:5])) + (" ..." if nonpos.size > 5 else "")
            raise FitDataError(f"column {name!r} (role {role}) has {nonpos.size} non-positive value(s) "
                               f"(rows {rows})")
    return vals


def _check_common(bootstrap: Any, level: Any) -> None:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap!r} must be an integer >= 0")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level={level!r} must be between 0 and 1")


def _renamed(where: str, legacy: dict[str, Any]) -> None:
    if legacy:
        names = ", ".join(f"{k}=" for k in legacy)
        raise TypeError(f"{where}() no longer takes {names}; name columns by role with "
                        f"columns={{'C': ..., 'N': ..., 'loss': ...}}")


def _budget_label(C: float) -> str:
    return f"C={C:.4g}"


# ----------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------
@dataclass
class IsoFlopResult:
    """Per-budget optima and the fitted exponents: N* ∝ C^a, D* ∝ C^b.

    ``a``, ``b``: signed OLS slopes of log N_opt and log D_opt on log C (``fit_N``,
    ``fit_D`` are the two :class:`FitResult` lines, params ``slope`` and ``intercept``).
    ``a_interval``, ``b_interval``: percentile bootstrap intervals at ``level`` over the
    per-budget optima (None without a bootstrap). ``minima``: one row per budget
    (Approach 2) or compute value (Approach 1) with columns C, N_opt, D_opt, loss_opt,
    n_runs, interior, used, reason (why a row is not used; "" when it is). ``method``:
    ``"parabola"``, ``"spline"`` or ``"envelope"``. ``settings``: every choice made
    (JSON-able). ``warnings``: what the printout warned about."""

    minima: pd.DataFrame
    fit_N: FitResult
    fit_D: FitResult
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    approach: int = 2
    warnings: list[str] = field(default_factory=list)

    # -- exponents ------------------------------------------------------------------
    @property
    def a(self) -> float:
        """N* ∝ C^a."""
        return float(self.fit_N.params["slope"])

    @property
    def b(self) -> float:
        """D* ∝ C^b."""
        return float(self.fit_D.params["slope"])

    @property
    def a_interval(self) -> tuple[float, float] | None:
        return self.fit_N.interval("slope")

    @property
    def b_interval(self) -> tuple[float, float] | None:
        return self.fit_D.interval("slope")

    @property
    def level(self) -> float:
        return float(self.settings.get("level", self.fit_N.level))

    @property
    def used(self) -> pd.DataFrame:
        """The rows of ``minima`` the power laws were fitted to."""
        return self.minima[self.minima["used"]]

    def N_opt(self, C: Any) -> Any:
        """The fitted N*(C) = exp(intercept) · C^a (a float for a scalar C)."""
        return self._line(self.fit_N, C)

    def D_opt(self, C: Any) -> Any:
        """The fitted D*(C) = exp(intercept) · C^b (a float for a scalar C)."""
        return self._line(self.fit_D, C)

    @staticmethod
    def _line(fit: FitResult, C: Any) -> Any:
        out = np.exp(fit.params["intercept"]) * np.asarray(C, dtype=float) ** fit.params["slope"]
        return float(out) if np.ndim(out) == 0 else out

    # -- text -----------------------------------------------------------------------
    def settings_line(self) -> str:
        """Every choice the estimate made, in one line (what the printout starts with)."""
        s = self.settings
        boot = (f"bootstrap {s['bootstrap']} resamples of the "
                + ("budgets' optima" if self.approach == 2 else "envelope's points")
                + f" (seed {s['seed']}), {s['level']:.0%} intervals") if s.get("bootstrap") else "no bootstrap"
        cols = s.get("columns", {})
        if self.approach == 1:
            return (f"IsoFLOP Approach 1 · lower envelope of {s['runs']} training curves (runs: "
                    f"{cols.get('run')!r}, N: {cols.get('N')!r}, compute so far: {cols.get('C')!r}, "
                    f"loss: {cols.get('loss')!r}) at {s['n_grid']} log-spaced compute values · "
                    f"D* = C/(6·N*) · {s['used']} of {s['points']} values used (spanned by at least "
                    f"2 runs) · a, b: OLS slopes of log N*, log D* on log C · {boot}")
        if s["tokens"] == "6ND":
            how_D = ("D* = C/(6·N*) (tokens='6ND')" if s.get("flops", "6ND") == "6ND"
                     else "D* = C/flops(N*, 1) (tokens='6ND', custom flops)")
        else:
            how_D = f"D*: {s['method']} in log D per budget (tokens='fit', D: {cols.get('D')!r})"
        return (f"IsoFLOP Approach 2 · budgets from column {cols.get('C')!r} · N*: {s['method']} of "
                f"{cols.get('loss')!r} in log N per budget (N: {cols.get('N')!r}) · {how_D} · "
                f"{s['used']} of {s['budgets']} budgets used · a, b: OLS slopes of log N*, log D* "
                f"on log C · {boot}")

    def _fmt(self, name: str, value: float, iv: tuple[float, float] | None, digits: int) -> str:
        text = f"{name} = {value:.{digits}g}"
        if iv is not None:
            text += f" {self.level:.0%} [{iv[0]:.{digits}g}, {iv[1]:.{digits}g}]"
        return text

    def exponent_line(self, name: str, digits: int = 4) -> str:
        """``"a = 0.4516 95% [0.44, 0.46]  (N* ∝ C^a)"`` for ``name`` "a" or "b"."""
        if name == "a":
            return self._fmt("a", self.a, self.a_interval, digits) + "  (N* ∝ C^a)"
        if name == "b":
            return self._fmt("b", self.b, self.b_interval, digits) + "  (D* ∝ C^b)"
        raise KeyError(f"{name!r} is not an exponent; use 'a' or 'b'")

    def summary(self, digits: int = 4) -> str:
        """One line: the exponents with their intervals."""
        what = (f"Approach 2 ({self.method}, tokens {self.settings.get('tokens')})" if self.approach == 2
                else "Approach 1 (envelope)")
        over = (f"{self.settings['used']} of {self.settings['budgets']} budgets" if self.approach == 2
                else f"{self.settings['used']} of {self.settings['points']} compute values")
        return (f"{what}: {self._fmt('a', self.a, self.a_interval, digits)} (N* ∝ C^a), "
                f"{self._fmt('b', self.b, self.b_interval, digits)} (D* ∝ C^b) over {over}")

    def table(self, digits: int = 4) -> str:
        """``minima`` as text."""
        return self.minima.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}")

    def __str__(self) -> str:
        lines = [self.settings_line()]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [self.table(), self.summary()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def iv(x):
            return "—" if x is None else f"[{x[0]:.4g}, {x[1]:.4g}]"
        rows = "".join(f"<tr><td>{n}</td><td>{html.escape(d)}</td><td>{v:.4g}</td><td>{i}</td></tr>"
                       for n, d, v, i in [("a", "N* ∝ C^a", self.a, iv(self.a_interval)),
                                          ("b", "D* ∝ C^b", self.b, iv(self.b_interval))])
        head = f"<tr><th></th><th></th><th>value</th><th>{self.level:.0%} interval</th></tr>"
        warn = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        minima = self.minima.to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return (f"<div><p><code>{html.escape(self.settings_line())}</code></p>{warn}"
                f"<table>{head}{rows}</table>{minima}</div>")

    # -- JSON -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the exponents, their intervals, the per-budget minima (records)
        and the settings (NaN becomes None)."""
        def line(fit: FitResult) -> dict[str, Any]:
            return {"slope": fit.params["slope"], "intercept": fit.params["intercept"],
                    "rmsle": fit.stats.get("rmsle")}
        out = {
            "approach": self.approach, "method": self.method,
            "a": self.a, "b": self.b,
            "a_interval": None if self.a_interval is None else list(self.a_interval),
            "b_interval": None if self.b_interval is None else list(self.b_interval),
            "level": self.level,
            "fit_N": line(self.fit_N), "fit_D": line(self.fit_D),
            "minima": self.minima.to_dict(orient="records"),
            "settings": self.settings, "warnings": list(self.warnings),
        }
        return _jsonable(out)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _fits(used: pd.DataFrame, bootstrap: int, seed: int, level: float) -> tuple[FitResult, FitResult]:
    # the same seed and number of rows: both lines resample the same budgets
    fit_N = loglog_slope(used["C"].to_numpy(float), used["N_opt"].to_numpy(float),
                         bootstrap=bootstrap, seed=seed, level=level)
    fit_D = loglog_slope(used["C"].to_numpy(float), used["D_opt"].to_numpy(float),
                         bootstrap=bootstrap, seed=seed, level=level)
    return fit_N, fit_D


# ----------------------------------------------------------------------------------
# Approach 2
# ----------------------------------------------------------------------------------
APPROACH2_ROLES = ("C", "N", "D", "loss")


def isoflop_approach2(frame: Any, *, columns: Mapping[str, str] | None = None, tokens: str = "6ND",
                      method: str = "parabola", flops: Callable[[Any, Any], Any] | None = None,
                      min_points: int = 3, bootstrap: int = 0, seed: int = 0, level: float = 0.95,
                      verbose: bool = True, **legacy) -> IsoFlopResult:
    """Hoffmann et al.'s Approach 2 on a frame with one row per run.

    Roles (``columns={role: column}``; a role not mapped is read from its own name):
    ``C`` the compute budget: runs with the same value form one IsoFLOP profile (it may
    be the real FLOP count, not 6ND); ``N`` parameters; ``loss`` the final loss (the
    target); ``D`` training tokens: needed for ``tokens="fit"``, optional otherwise (when
    present it is checked against the budget).

    ``tokens``: how D* is found at each budget.
      ``"6ND"`` (default): D* = C/(6·N*), or C/flops(N*, 1) when ``flops(N, D)`` (linear
      in D) is given; a + b = 1 by construction. When a D column is there, the printout
      warns if 6·N·D (or flops(N, D)) differs from C by more than 10% for any run.
      ``"fit"``: D* from its own ``method`` fit of the losses in log D over the budget
      group, as N* is found in log N; needs the D column. Right when the budget column
      is the real compute and differs from 6ND.
    ``method``: ``"parabola"`` (least squares in log N, as Hoffmann et al.) or
    ``"spline"`` (a smoothing spline, its minimum on a fine grid).

    A budget is used when it has at least ``min_points`` runs with enough distinct sizes
    (3 for a parabola, 4 for a spline) and its minimum is bracketed by them (for
    ``tokens="fit"``, in both log N and log D). Every budget is listed in
    ``minima`` (C, N_opt, D_opt, loss_opt, n_runs, interior, used, reason), ``reason``
    saying why one is not used. a and b: OLS slopes of log N_opt, log D_opt on log C over
    the used budgets; ``bootstrap`` resamples the used budgets' optima (seed ``seed``) for
    percentile intervals at ``level``.

    Raises FitDataError (one line) for an empty frame, a missing column (naming role and
    column), bad values, or fewer than 3 usable budgets (naming each budget that is not
    usable, its number of runs and why; 3, as ``loglog_slope`` needs: a line through 2
    points has no residual). ValueError for bad settings."""
    _renamed("isoflop_approach2", legacy)
    if tokens not in TOKENS:
        raise ValueError(f"tokens={tokens!r} is not one of {', '.join(map(repr, TOKENS))} "
                         "('6ND': D* = C/(6N*); 'fit': D* from its own fit in log D)")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    if flops is not None and tokens != "6ND":
        raise ValueError("flops= only applies with tokens='6ND' (D* = C/flops(N*, 1))")
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)) or min_points < 3:
        raise ValueError(f"min_points={min_points!r} must be an integer >= 3")
    _check_common(bootstrap, level)
    explicit_D = columns is not None and "D" in columns
    cols = _columns(columns, APPROACH2_ROLES, "isoflop_approach2")
    frame = _frame(frame)
    C = _values(frame, "C", cols["C"])
    N = _values(frame, "N", cols["N"])
    L = _values(frame, "loss", cols["loss"], positive=False)
    has_D = tokens == "fit" or explicit_D or cols["D"] in frame.columns
    D = None
    if tokens == "fit":
        D = _values(frame, "D", cols["D"])
    elif has_D:
        D = _values(frame, "D", cols["D"], allow_missing=True)

    warnings: list[str] = []
    mismatch = None
    if D is not None:
        ok = np.isfinite(D) & (D > 0)
        if ok.any():
            spent = (6.0 * N[ok] * D[ok] if flops is None
                     else np.array([float(flops(n, d)) for n, d in zip(N[ok], D[ok])]))
            rel = np.abs(spent / C[ok] - 1.0)
            mismatch = float(rel.max())
            off = int(np.sum(rel > MISMATCH_TOL))
            if tokens == "6ND" and off:
                spent_name = "6·N·D" if flops is None else "flops(N, D)"
                warnings.append(f"{spent_name} differs from the budget column {cols['C']!r} by more than "
                                f"{MISMATCH_TOL:.0%} in {off} of {int(ok.sum())} runs (up to {mismatch:.0%}); "
                                f"D* = C/(6N*) then misstates the tokens: tokens='fit' reads D* off "
                                f"the {cols['D']!r} column")

    rows = []
    logN, logD = np.log(N), (np.log(D) if tokens == "fit" else None)
    for budget in np.unique(C):
        idx = np.flatnonzero(C == budget)
        n = int(idx.size)
        row = {"C": float(budget), "N_opt": math.nan, "D_opt": math.nan, "loss_opt": math.nan,
               "n_runs": n, "interior": False, "used": False, "reason": ""}
        if n < min_points:
            row["reason"] = f"too few runs ({n} < min_points={min_points})"
            rows.append(row)
            continue
        lx, lopt, ok_N, why = _profile(logN[idx], L[idx], method, "N")
        if np.isfinite(lx):
            row["N_opt"], row["loss_opt"] = float(np.exp(lx)), lopt
        ok_D, why_D = True, ""
        if tokens == "fit":
            ld, _, ok_D, why_D = _profile(logD[idx], L[idx], method, "D")
            if np.isfinite(ld):
                row["D_opt"] = float(np.exp(ld))
        elif np.isfinite(lx):
            Nopt = row["N_opt"]
            row["D_opt"] = float(budget) / (6.0 * Nopt) if flops is None else float(budget) / float(flops(Nopt, 1.0))
        row["interior"] = bool(ok_N and ok_D)
        row["used"] = row["interior"]
        row["reason"] = "; ".join(r for r in (why, why_D) if r)
        rows.append(row)
    minima = pd.DataFrame(rows, columns=MINIMA_COLUMNS)
    used = minima[minima["used"]]
    if len(used) < MIN_BUDGETS:
        bad = minima[~minima["used"]]
        listed = "; ".join(f"{_budget_label(r.C)} ({r.n_runs} runs): {r.reason}" for r in bad.head(4).itertuples())
        more = f"; and {len(bad) - 4} more" if len(bad) > 4 else ""
        raise FitDataError(f"Approach 2 needs at least {MIN_BUDGETS} usable budgets, got {len(used)} of {len(minima)}"
                           + (f" ({listed}{more})" if listed else ""))
    fit_N, fit_D = _fits(used, int(bootstrap), seed, level)
    settings = {"approach": 2, "method": method, "tokens": tokens,
                "flops": "6ND" if flops is None else "custom", "columns": cols if has_D else
                {r: c for r, c in cols.items() if r != "D"},
                "min_points": int(min_points), "budgets": int(len(minima)), "used": int(len(used)),
                "runs": int(len(frame)), "max_budget_vs_6ND": mismatch,
                "bootstrap": int(bootstrap), "seed": int(seed), "level": float(level)}
    res = IsoFlopResult(minima=minima, fit_N=fit_N, fit_D=fit_D, method=method, settings=settings,
                        approach=2, warnings=warnings)
    if verbose:
        print(res.settings_line())
        for w in warnings:
            print(f"  warning: {w}")
        for r in minima[~minima["used"]].itertuples():
            print(f"  not used: {_budget_label(r.C)} ({r.n_runs} runs): {r.reason}")
        print("  " + res.summary())
    return res


# ----------------------------------------------------------------------------------
# Approach 1
# ----------------------------------------------------------------------------------
APPROACH1_ROLES = ("run", "N", "C", "loss")


def envelope_approach1(curves: Any, *, columns: Mapping[str, str] | None = None, n_grid: int = 200,
                       bootstrap: int = 0, seed: int = 0, level: float = 0.95,
                       verbose: bool = True, **legacy) -> IsoFlopResult:
    """Hoffmann et al.'s Approach 1 on a long frame of training curves.

    Roles (``columns={role: column}``; a role not mapped is read from its own name):
    ``run`` the run id (one curve per value), ``N`` the run's parameters (one value per
    run), ``C`` the compute used so far (e.g. 6·N·tokens seen) and ``loss``.

    At each of ``n_grid`` log-spaced compute values between the smallest and the
    largest compute of any curve, the run with the lowest loss (interpolated linearly
    in log C along each curve) gives N*(C), and D* = C/(6·N*). Values that fewer than
    two curves span are decided by a single run and not used. ``minima`` holds every
    grid value (C, N_opt, D_opt, loss_opt, n_runs, interior, used, reason); a and b are
    the OLS slopes of log N*, log D* on log C over the used ones, ``bootstrap``
    resampling those points for percentile intervals at ``level``.

    Raises FitDataError (one line) for an empty frame, a missing column, bad values, a
    run with more than one N, fewer than 2 runs, or an envelope through fewer than 2
    model sizes."""
    _renamed("envelope_approach1", legacy)
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 2:
        raise ValueError(f"n_grid={n_grid!r} must be an integer >= 2")
    _check_common(bootstrap, level)
    cols = _columns(columns, APPROACH1_ROLES, "envelope_approach1")
    curves = _frame(curves)
    if cols["run"] not in curves.columns:
        raise _missing(curves, "run", cols["run"])
    N_all = _values(curves, "N", cols["N"])
    C_all = _values(curves, "C", cols["C"])
    L_all = _values(curves, "loss", cols["loss"], positive=False)
    work = pd.DataFrame({"run": curves[cols["run"]].to_numpy(), "N": N_all, "C": C_all, "loss": L_all})
    per_run = []
    for rid, g in work.groupby("run", sort=True):
        if g["N"].nunique() > 1:
            raise FitDataError(f"run {rid!r} has {g['N'].nunique()} different values of {cols['N']!r} "
                               "(role N); each run is one model size")
        g = g.sort_values("C")
        per_run.append((float(g["N"].iloc[0]), np.log(g["C"].to_numpy(float)), g["loss"].to_numpy(float)))
    if len(per_run) < 2:
        raise FitDataError(f"Approach 1 needs at least 2 training runs, got {len(per_run)}")
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
            rows.append({"C": C, "N_opt": best_N, "D_opt": C / (6 * best_N), "loss_opt": best_L})
    minima = pd.DataFrame(rows, columns=["C", "N_opt", "D_opt", "loss_opt"])
    # the envelope at the very ends is decided by a single run: keep budgets at which
    # at least two runs compete
    minima["n_runs"] = [int(sum(lcs[0] <= np.log(c) <= lcs[-1] for _, lcs, _ in per_run)) for c in minima["C"]]
    minima["used"] = minima["n_runs"] >= 2
    minima["interior"] = minima["used"]
    minima["reason"] = np.where(minima["used"], "", "spanned by a single run")
    minima = minima[MINIMA_COLUMNS]
    used = minima[minima["used"]]
    if len(used) < MIN_BUDGETS or used["N_opt"].nunique() < 2:
        raise FitDataError(f"Approach 1 needs the envelope to pass through at least 2 model sizes at "
                           f"{MIN_BUDGETS}+ compute values spanned by 2 or more runs; it passes through "
                           f"{used['N_opt'].nunique()} at {len(used)} of {len(minima)} such values")
    fit_N, fit_D = _fits(used, int(bootstrap), seed, level)
    settings = {"approach": 1, "method": "envelope", "columns": cols, "n_grid": int(n_grid),
                "runs": len(per_run), "points": int(len(minima)), "used": int(len(used)),
                "sizes_on_envelope": int(used["N_opt"].nunique()),
                "bootstrap": int(bootstrap), "seed": int(seed), "level": float(level)}
    res = IsoFlopResult(minima=minima, fit_N=fit_N, fit_D=fit_D, method="envelope", settings=settings,
                        approach=1)
    if verbose:
        print(res.settings_line())
        print("  " + res.summary())
    return res
