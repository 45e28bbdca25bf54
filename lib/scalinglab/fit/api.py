"""Fitting entry points: ``fit_law``, ``fit_power_law``, ``loglog_slope``.

One vocabulary across them, the IsoFLOP methods and the ``scalinglab`` command:

- ``objective``: what a fit minimises, ``"huber"`` or ``"lsq"`` (½·r² per point, summed
  or averaged by ``reduction``). The target is never called the objective.
- ``columns``: how a table's columns map to roles. A role is an input of the law
  (``N``, ``D``, ``x``, ``S``, ``U``), ``C`` (training FLOPs; ``D = C/(6N)`` when the law
  needs ``D`` and only ``C`` is mapped) or ``loss``, the target. A role not mapped is
  read from the column of its own name. The command line's ``--N COL``, ``--D COL``,
  ``--C COL``, ``--x COL`` and ``--loss COL`` are the same mapping.
- Exponents are magnitudes, positive for the direction the law names: a falling law
  ``A·x^(−alpha)`` and a growing law ``A·x^alpha`` both report ``alpha > 0``
  (``fit_power_law`` picks the direction from the data unless told). A *slope*
  (``loglog_slope``, the IsoFLOP exponents ``a`` and ``b``) is signed: it is
  d log y / d log x.
- Every result reports the objective as minimised and, comparable across tools, the
  residual sum of squares ``rss`` = Σr² and ``rmse`` = √(rss/n) in the fit's space.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Mapping, Sequence

import numpy as np

from scalinglab.fit import engine
from scalinglab.fit.engine import LOSSES, OPTIMIZERS, REDUCTIONS, SPACES, Problem
from scalinglab.fit.laws import Law, LogLogLine, PowerLaw, get_law
from scalinglab.fit.result import FitResult
from scalinglab.base.perturb import perturb


class FitDataError(ValueError):
    """The data cannot be fitted as given (missing column, NaN, non-positive values,
    too few points, mismatched lengths). The message is one line."""


# ----------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------
def _column(data: Any, name: str) -> Any:
    if hasattr(data, "columns"):
        if name not in data.columns:
            raise FitDataError(f"missing column {name!r} (columns: {', '.join(map(str, data.columns))})")
        return data[name]
    if isinstance(data, Mapping):
        if name not in data:
            raise FitDataError(f"missing column {name!r} (columns: {', '.join(map(str, data))})")
        return data[name]
    raise FitDataError(f"data must be a DataFrame or a mapping of columns, got {type(data).__name__}")


def _as_vector(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise FitDataError(f"column {name!r} is not numeric") from None
    if arr.ndim != 1:
        raise FitDataError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        rows = ", ".join(map(str, bad[:5])) + (" ..." if bad.size > 5 else "")
        raise FitDataError(f"column {name!r} has {bad.size} NaN/inf value(s) (rows {rows})")
    nonpos = np.flatnonzero(arr <= 0)
    if nonpos.size:
        rows = ", ".join(map(str, nonpos[:5])) + (" ..." if nonpos.size > 5 else "")
        raise FitDataError(f"column {name!r} has {nonpos.size} non-positive value(s) (rows {rows}); "
                           "scaling-law fits need positive sizes and losses")
    return arr


def check_columns(columns: Mapping[str, str] | None, roles: Sequence[str], where: str) -> dict[str, str]:
    """``columns`` as a checked dict of role -> column name; a role that is not one of
    ``roles`` is an error (a typo would otherwise be ignored)."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise ValueError(f"columns= must map roles to column names, e.g. {{'N': 'params'}}; "
                         f"got {type(columns).__name__}")
    unknown = [r for r in columns if r not in roles]
    if unknown:
        raise ValueError(f"columns: {', '.join(map(repr, unknown))} is not a role of {where} "
                         f"(roles: {', '.join(roles)})")
    bad = [r for r, c in columns.items() if not isinstance(c, str) or not c]
    if bad:
        raise ValueError(f"columns: the column for {bad[0]!r} must be a column name, got {columns[bad[0]]!r}")
    return dict(columns)


def prepare(law: Law, data: Any, y: Any = None, *, columns: Mapping[str, str] | None = None,
            flops_per_token: float = 6.0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Checked float arrays for the law's inputs and the target.

    ``columns`` maps roles (the law's inputs, ``C``, ``loss``) to column names; a role
    not mapped is read from its own name. ``y`` (a column name or an array) names the
    target directly and wins over ``columns["loss"]``. When the law needs ``D`` and only
    ``C`` is mapped, D = C / (flops_per_token · N)."""
    roles = (*law.inputs, "loss") + (("C",) if "D" in law.inputs else ())
    cols = check_columns(columns, roles, f"law {law.name}")
    if y is None:
        y = cols.get("loss", "loss")
    if isinstance(y, str):
        y_arr = _as_vector(y, _column(data, y))
    else:
        y_arr = _as_vector("y", y)
    tabular = hasattr(data, "columns") or isinstance(data, Mapping)
    if not tabular and len(law.inputs) == 1 and data is not None:
        X = {law.inputs[0]: _as_vector(law.inputs[0], data)}  # one-input law: a bare array
    else:
        X = {}
        for role in law.inputs:
            if role == "D" and "C" in cols and "D" not in cols:
                C = _as_vector(cols["C"], _column(data, cols["C"]))
                X["D"] = C / (flops_per_token * _as_vector(cols.get("N", "N"), _column(data, cols.get("N", "N"))))
                continue
            name = cols.get(role, role)
            X[role] = _as_vector(name, _column(data, name))
    for col, arr in X.items():
        if arr.shape != y_arr.shape:
            raise FitDataError(f"mismatched lengths: {col!r} has {arr.size} values, target has {y_arr.size}")
    need = law.min_points()
    if y_arr.size < need:
        raise FitDataError(f"{law.name} has {len(law.free)} free parameters and needs at least {need} "
                           f"points, got {y_arr.size}")
    # every fit reads its targets here: the stability check's perturbation (off unless
    # SCALINGLAB_PERTURB is set) applies to all of them
    return X, perturb(y_arr, "fit.targets")


def _check_settings(objective, huber_delta, reduction, space, optimizer, bootstrap, n_jobs, level):
    if objective not in LOSSES:
        raise ValueError(f"objective={objective!r} is not one of {', '.join(LOSSES)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not one of {', '.join(REDUCTIONS)}")
    if space not in SPACES:
        raise ValueError(f"space={space!r} is not one of {', '.join(SPACES)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if not (isinstance(huber_delta, (int, float)) and huber_delta > 0 and math.isfinite(huber_delta)):
        raise ValueError(f"huber_delta={huber_delta!r} must be a positive number")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap!r} must be an integer >= 0")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs={n_jobs!r} must be a positive integer or -1 (all cores)")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be between 0 and 1")


# ----------------------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------------------
def _bootstrap_chunk(law: Law, X: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray,
                     starts: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit on each resample (rows: (k, n) indices), all resamples as one batch, from
    each of ``starts`` (free internal vectors); keep the best per resample."""
    k = rows.shape[0]
    Xb = {c: v[rows] for c, v in X.items()}
    prob = Problem(law, Xb, y[rows], settings["objective"], settings["huber_delta"],
                   settings["reduction"], settings["space"])
    best_theta = np.full((k, len(law.free)), np.nan)
    best_f = np.full(k, np.inf)
    best_ok = np.zeros(k, dtype=bool)
    for s in starts:
        out = engine.levenberg_marquardt(prob, np.repeat(s[None, :], k, axis=0))
        take = out["objective"] < best_f
        best_theta[take], best_f[take], best_ok[take] = out["theta"][take], out["objective"][take], out["converged"][take]
    return best_theta, best_f, best_ok


def _bootstrap(law, X, y, theta_hat, extra_starts, settings, n_boot, seed, n_jobs):
    n = y.size
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(n_boot, n))  # drawn up front: results do not depend on n_jobs
    starts = np.vstack([theta_hat[None, :], extra_starts]) if len(extra_starts) else theta_hat[None, :]
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(int(n_jobs), n_boot))
    chunks = [c for c in np.array_split(np.arange(n_boot), n_jobs) if c.size]
    if n_jobs == 1:
        parts = [_bootstrap_chunk(law, X, y, rows[c], starts, settings) for c in chunks]
    else:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            futures = [pool.submit(_bootstrap_chunk, law, X, y, rows[c], starts, settings) for c in chunks]
            parts = [f.result() for f in futures]
    theta = np.vstack([p[0] for p in parts])
    ok = np.concatenate([p[2] for p in parts])
    return theta, ok


def percentile_intervals(samples: np.ndarray, names: Sequence[str], level: float) -> dict[str, tuple[float, float]]:
    q = 100 * (1 - level) / 2
    out = {}
    for j, name in enumerate(names):
        col = samples[:, j]
        col = col[np.isfinite(col)]
        if col.size:
            out[name] = (float(np.percentile(col, q)), float(np.percentile(col, 100 - q)))
    return out


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------
def _renamed_loss(where: str, options: dict) -> None:
    if "loss" in options:
        raise TypeError(f"{where}: loss= is now objective= (what the fit minimises: 'huber' or 'lsq'); "
                        "name the target column with y= or columns={'loss': COLUMN}")


def objective_definition(objective: str, huber_delta: float, reduction: str) -> str:
    """What the reported objective is, in words (printed beside it, stored in JSON)."""
    per_point = ("½·r²" if objective == "lsq" else
                 f"Huber(δ={huber_delta:g}): ½·r² for |r| ≤ δ, else δ·(|r| − δ/2)")
    return f"{per_point} per point, {'summed' if reduction == 'sum' else 'averaged'} over points"


def residual_stats(r: np.ndarray) -> dict[str, float]:
    """The residual sum of squares Σr² and the root mean square error √(Σr²/n): the
    numbers other tools report, whatever the objective."""
    rss = float(np.sum(r * r))
    return {"rss": rss, "rmse": float(np.sqrt(rss / r.size))}


def fit_law(law: "str | Law", data: Any, y: Any = None, *, columns: Mapping[str, str] | None = None,
            objective: str = "huber", huber_delta: float = 1e-3, reduction: str = "sum",
            space: str = "log", starts: Any = "default", bootstrap: int = 0, seed: int = 0,
            n_jobs: int = 1, level: float = 0.95, optimizer: str = "lm", verbose: bool = True,
            **law_options) -> FitResult:
    """Fit ``law`` to ``data`` (a DataFrame or mapping of columns).

    columns: role -> column name, e.g. ``{"N": "params", "D": "tokens", "loss":
    "val_loss"}``; a role not given is read from the column of its own name, and
    ``{"C": "flops"}`` without ``D`` gives D = C/(6N). y: the target, a column name or
    an array (default: ``columns["loss"]``, else the column ``loss``).

    objective: ``"huber"`` (default, as Hoffmann et al. 2022) or ``"lsq"``; huber_delta:
    the Huber threshold on residuals; reduction: ``"sum"`` or ``"mean"`` over points;
    space: residuals of log predictions (``"log"``) or raw values (``"linear"``);
    starts: ``"default"``, a named grid (``"chinchilla-4500"``), an int k or an array;
    bootstrap: resamples for percentile intervals at ``level`` (parallel over
    ``n_jobs`` processes, deterministic in ``seed``); optimizer: ``"lm"`` (batched
    Levenberg-Marquardt + L-BFGS-B polish) or ``"scipy"`` (the plain reference loop).
    Extra keywords build the law (``fixed={...}``, ``tied=True``, ``breaks=2``).

    The result reports the objective as minimised (``objective``, defined in
    ``settings["objective_definition"]``) and the residual sum of squares and RMSE
    (``stats["rss"]``, ``stats["rmse"]``)."""
    _renamed_loss("fit_law", law_options)
    law = get_law(law, **law_options)
    _check_settings(objective, huber_delta, reduction, space, optimizer, bootstrap, n_jobs, level)
    X, y_arr = prepare(law, data, y, columns=columns)
    problem = Problem(law, X, y_arr, objective, float(huber_delta), reduction, space)
    starts_free, how = engine.starting_points(problem, starts)
    settings: dict[str, Any] = {
        "law": law.name, "formula": law.formula, "law_spec": law.spec(), "objective": objective,
        "huber_delta": float(huber_delta), "reduction": reduction, "space": space,
        "objective_definition": objective_definition(objective, float(huber_delta), reduction),
        "starts": how, "n_starts": int(len(starts_free)), "optimizer": optimizer,
        "bootstrap": int(bootstrap), "seed": int(seed), "level": level,
    }
    if columns:
        settings["columns"] = dict(columns)
    out = engine.optimise(problem, starts_free, optimizer=optimizer)
    theta = np.asarray(out["theta"], dtype=float)
    full = law.full(theta)[0]
    params = law.to_public(full)
    result = FitResult(law=law, params=params, objective=float(out["objective"]),
                       converged=bool(out["converged"]), at_bound=engine.at_bounds(law, theta),
                       settings=settings, n_points=int(y_arr.size), level=level,
                       at_optimum=bool(out["stationary"]), failure=list(out["failure"]))
    result.data = (X, y_arr)
    r = problem.residuals(theta[None, :])[0]
    logr = r if space == "log" else np.log(result.predict(X)) - np.log(y_arr)
    result.stats = {**residual_stats(r),
                    "rmsle": float(np.sqrt(np.mean(logr ** 2))),
                    "max_abs_log_residual": float(np.max(np.abs(logr))),
                    # the Gauss-Newton decrement at the returned point over the objective
                    # (converged needs <= engine.DECREMENT_RTOL, or a rounding floor)
                    "gauss_newton_decrement": float(out["decrement"])}
    if bootstrap:
        # other good local optima from the multi-start become extra bootstrap starts, so a
        # resample whose optimum moved to another basin can still find it
        alt = out.get("all_theta")
        extra = np.empty((0, len(law.free)))
        if alt is not None and len(alt) > 1:
            order = np.argsort(out["all_objectives"], kind="stable")
            pick = engine._distinct(alt, order, 3, tol=1e-2)
            extra = alt[pick[1:]] if pick.size > 1 else extra
        samples_free, ok = _bootstrap(law, X, y_arr, theta, extra, settings, int(bootstrap), seed, n_jobs)
        full_samples = law.full(samples_free)
        names = list(law.names)
        pub = law.public_array(full_samples)
        derived_rows = [law._derived(dict(zip(names, row))) for row in pub[:1]]
        extra_names = list(derived_rows[0]) if derived_rows else []
        if extra_names:
            extra_cols = np.array([[law._derived(dict(zip(names, row)))[k] for k in extra_names] for row in pub])
            pub = np.column_stack([pub, extra_cols])
        result.samples = pub
        result.sample_names = tuple(names + extra_names)
        result.intervals = percentile_intervals(pub, result.sample_names, level)
        for name in law.fixed:
            result.intervals.pop(name, None)
        # share of resamples whose refit converged by engine.assess's definition (a
        # resample that put a parameter on a bound of its range does not)
        result.stats["bootstrap_converged_fraction"] = float(np.mean(ok))
        result.bound_share = bound_share(law, samples_free)
    if verbose:
        print(result.summary())
    return result


def bound_share(law: Law, samples_free: np.ndarray, rtol: float = engine.BOUND_RTOL) -> dict[str, float]:
    """For each free parameter, the share of bootstrap fits (rows, internal coordinates)
    that ended within ``rtol`` of the width of its box from a bound (one the law does
    not declare a legitimate boundary, see ``Param.boundary``)."""
    samples_free = np.atleast_2d(np.asarray(samples_free, dtype=float))
    if samples_free.size == 0:
        return {}
    at_lo, at_hi = engine.bound_hits(law, samples_free, rtol)
    hit = at_lo | at_hi
    return {name: float(np.mean(hit[:, i])) for i, name in enumerate(law.free)}


DIRECTIONS = ("auto", "falling", "growing")


def _tabular(x: Any) -> bool:
    return hasattr(x, "columns") or isinstance(x, Mapping)


def _xy(x: Any, y: Any, columns: Mapping[str, str] | None, where: str) -> tuple[Any, Any]:
    """(x, y) arrays from either two arrays or a table and a column mapping (roles
    ``x`` and ``loss``)."""
    cols = check_columns(columns, ("x", "loss"), where)
    if _tabular(x):
        data = x
        xname = cols.get("x", "x")
        yname = y if isinstance(y, str) else cols.get("loss", "loss")
        if y is not None and not isinstance(y, str):
            raise ValueError(f"{where}: with a table, y= must be a column name (or use columns={{'loss': ...}})")
        return _column(data, xname), _column(data, yname)
    if cols:
        raise ValueError(f"{where}: columns= needs a table (a DataFrame or a mapping of columns) as first argument")
    if y is None:
        raise ValueError(f"{where}: give x and y arrays, or a table with columns=")
    return x, y


def fit_power_law(x: Any, y: Any = None, *, columns: Mapping[str, str] | None = None,
                  offset: bool = False, direction: str = "auto", objective: str = "lsq",
                  huber_delta: float = 1e-3, reduction: str = "sum", space: str = "log",
                  starts: Any = "default", bootstrap: int = 0, seed: int = 0, n_jobs: int = 1,
                  level: float = 0.95, optimizer: str = "lm", verbose: bool = True,
                  **options) -> FitResult:
    """y = A·x^(−alpha) [+ E] for a falling curve, y = A·x^alpha [+ E] for a growing
    one (params ``A``, ``alpha``, ``E``): ``alpha`` is the exponent's magnitude, positive
    in either direction, with its interval. direction: ``"auto"`` (from the sign of
    the log-log least-squares slope; printed), ``"falling"`` or ``"growing"``.

    x, y: arrays, or a table as ``x`` with ``columns={"x": ..., "loss": ...}``. The
    other options are ``fit_law``'s; least squares in log space by default."""
    _renamed_loss("fit_power_law", options)
    if options:
        raise TypeError(f"fit_power_law: unexpected keyword(s) {', '.join(options)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is not one of {', '.join(DIRECTIONS)}")
    xv, yv = _xy(x, y, columns, "fit_power_law")
    how = direction
    if direction == "auto":
        X, y_arr = prepare(PowerLaw(), {"x": xv}, yv)
        lx = np.log(X["x"])
        if np.ptp(lx) == 0:
            raise FitDataError("fit_power_law needs at least two distinct x values")
        slope = np.polyfit(lx, np.log(y_arr), 1)[0]
        direction = "growing" if slope > 0 else "falling"
        how = f"{direction} (auto: log-log slope {slope:+.3g})"
    law = PowerLaw(offset=offset, growing=direction == "growing")
    result = fit_law(law, {"x": xv}, yv, objective=objective, huber_delta=huber_delta,
                     reduction=reduction, space=space, starts=starts, bootstrap=bootstrap, seed=seed,
                     n_jobs=n_jobs, level=level, optimizer=optimizer, verbose=False)
    result.settings["direction"] = how
    if columns:
        result.settings["columns"] = dict(columns)
    if verbose:
        print(result.summary())
    return result


def loglog_slope(x: Any, y: Any = None, *, columns: Mapping[str, str] | None = None,
                 bootstrap: int = 0, seed: int = 0, level: float = 0.95,
                 verbose: bool = False, label: str | None = None, digits: int = 4) -> FitResult:
    """The signed slope of log y against log x by ordinary least squares, with a
    percentile bootstrap interval (params ``slope``, ``intercept``). x, y: arrays, or a
    table as ``x`` with ``columns={"x": ..., "loss": ...}``. A falling power law
    A·x^(−alpha) has slope −alpha. With ``verbose``, prints the summary to ``digits``
    significant digits, after ``label: `` when a label is given."""
    xv, yv = _xy(x, y, columns, "loglog_slope")
    X, y_arr = prepare(PowerLaw(), {"x": xv}, yv)
    lx, ly = np.log(X["x"]), np.log(y_arr)

    def ols(lx, ly):
        xm, ym = lx.mean(axis=-1, keepdims=True), ly.mean(axis=-1, keepdims=True)
        sxx = ((lx - xm) ** 2).sum(axis=-1)
        slope = ((lx - xm) * (ly - ym)).sum(axis=-1) / np.where(sxx > 0, sxx, np.nan)
        return slope, ym[..., 0] - slope * xm[..., 0]

    if np.ptp(lx) == 0:
        raise FitDataError("loglog_slope needs at least two distinct x values")
    slope, intercept = ols(lx, ly)
    resid = (intercept + slope * lx) - ly
    line = LogLogLine()
    settings = {"law": line.name, "formula": line.formula, "law_spec": line.spec(),
                "objective": "lsq", "huber_delta": 0.0, "reduction": "sum", "space": "log",
                "objective_definition": objective_definition("lsq", 0.0, "sum"),
                "starts": "closed form", "n_starts": 0, "optimizer": "ols",
                "bootstrap": int(bootstrap), "seed": int(seed), "level": level}
    result = FitResult(law=line, params={"slope": float(slope), "intercept": float(intercept)},
                       objective=float(0.5 * np.sum(resid ** 2)), converged=True, at_bound=[],
                       settings=settings, n_points=int(lx.size), level=level,
                       stats={**residual_stats(resid), "rmsle": float(np.sqrt(np.mean(resid ** 2)))})
    result.data = ({"x": X["x"]}, y_arr)
    if bootstrap:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, lx.size, size=(int(bootstrap), lx.size))
        s, i = ols(lx[rows], ly[rows])
        result.samples = np.column_stack([s, i])
        result.sample_names = ("slope", "intercept")
        result.intervals = percentile_intervals(result.samples, result.sample_names, level)
    if verbose:
        print((f"{label}: " if label else "") + result.summary(digits=digits))
    return result
