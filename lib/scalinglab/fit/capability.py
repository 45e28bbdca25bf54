"""Predicting benchmark scores: capability scores, sigmoid links, held-out errors.

Papers that predict what a larger model will score share three pieces:

* :func:`capability_pca` — a low-rank "capability space" from a models × benchmarks table
  (Ruan et al. 2024): principal components of the standardised scores, fitted on some
  models and applied to others (``transform``), with the share of variance each explains;
* :func:`fit_sigmoid` — a sigmoid link from a scalar (a capability score, a log compute,
  a task loss) to a bounded metric (accuracy): ``y = floor + (ceiling − floor)·σ(k·(x − x0))``,
  with the floor and ceiling fitted or held fixed (a chance floor, say). A falling link
  (accuracy against loss) has ``k < 0``;
* :func:`prediction_errors` — held-out errors, absolute and relative, named as such.

    pca = capability_pca(train[benchmarks], n_components=3)
    pca.explained_variance_ratio, pca.transform(test[benchmarks])
    link = fit_sigmoid(pca.scores[:, 0], train["task"], floor=0.25)
    prediction_errors(test["task"], link.predict(pca.transform(test[benchmarks])[:, 0]))

Fits print their choices when ``verbose`` and return typed results whose ``converged``
and ``at_bound`` say whether they can be used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from scalinglab.fit.api import FitDataError


# -- capability space ---------------------------------------------------------------------
@dataclass
class CapabilityPCA:
    """Principal components of a standardised models × benchmarks table."""

    benchmarks: list[str]
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray            # (k, n_benchmarks), unit rows
    explained_variance_ratio: np.ndarray
    scores: np.ndarray                # (n_models, k) of the table it was fitted on

    def transform(self, table: Any) -> np.ndarray:
        """Scores of other models (same benchmarks, standardised with the fitted mean and
        scale)."""
        X = _matrix(table, self.benchmarks)
        return ((X - self.mean) / self.scale) @ self.components.T

    @property
    def loadings(self) -> dict[str, np.ndarray]:
        return dict(zip(self.benchmarks, self.components.T))

    def summary(self, digits: int = 3) -> str:
        shares = ", ".join(f"PC{i + 1} {v:.{digits}g}" for i, v in enumerate(self.explained_variance_ratio))
        return (f"capability PCA of {len(self.benchmarks)} benchmarks over {len(self.scores)} models "
                f"(standardised): variance explained {shares}; cumulative "
                f"{float(np.sum(self.explained_variance_ratio)):.{digits}g}")

    def __str__(self) -> str:
        return self.summary()


def _matrix(table: Any, columns: Sequence[str] | None) -> np.ndarray:
    if hasattr(table, "columns"):
        cols = list(table.columns) if columns is None else list(columns)
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise FitDataError(f"missing column(s) {', '.join(map(str, missing))}")
        X = table[cols].to_numpy(dtype=float)
    else:
        X = np.asarray(table, dtype=float)
    if X.ndim != 2:
        raise FitDataError(f"a models × benchmarks table must be two-dimensional, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise FitDataError(f"{len(rows)} model(s) have missing or non-finite scores (rows "
                           f"{', '.join(map(str, rows[:5]))}{' ...' if len(rows) > 5 else ''}); "
                           "drop or impute them first")
    return X


def capability_pca(table: Any, benchmarks: Sequence[str] | None = None, n_components: int = 3,
                   standardize: bool = True, verbose: bool = False) -> CapabilityPCA:
    """PCA of a models × benchmarks table (a DataFrame, with ``benchmarks`` naming the
    columns, or an array). Scores are standardised per benchmark (``standardize``) so no
    benchmark dominates by its spread. Each component's sign is fixed so its loadings sum
    to a positive number (higher score = more capable)."""
    names = list(benchmarks) if benchmarks is not None else (
        [str(c) for c in table.columns] if hasattr(table, "columns") else None)
    X = _matrix(table, benchmarks)
    n, p = X.shape
    if names is None:
        names = [f"b{j}" for j in range(p)]
    if not 1 <= n_components <= min(n, p):
        raise FitDataError(f"n_components={n_components} must be between 1 and min(models, benchmarks) = {min(n, p)}")
    if n < 3:
        raise FitDataError(f"capability PCA needs at least 3 models, got {n}")
    mean = X.mean(axis=0)
    scale = X.std(axis=0, ddof=1) if standardize else np.ones(p)
    if np.any(scale == 0):
        flat = [names[j] for j in np.flatnonzero(scale == 0)]
        raise FitDataError(f"benchmark(s) {', '.join(flat)} have the same score for every model")
    Z = (X - mean) / scale
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    var = s ** 2
    comps = vt[:n_components].copy()
    for i in range(n_components):
        if comps[i].sum() < 0:
            comps[i] = -comps[i]
    result = CapabilityPCA(benchmarks=names, mean=mean, scale=scale, components=comps,
                           explained_variance_ratio=var[:n_components] / var.sum(),
                           scores=Z @ comps.T)
    if verbose:
        print(result.summary())
    return result


# -- sigmoid link -------------------------------------------------------------------------
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class SigmoidFit:
    """``y = floor + (ceiling − floor)·σ(k·(x − x0))``."""

    params: dict[str, float]
    fixed: dict[str, float]
    converged: bool
    at_bound: bool
    rss: float
    n_points: int
    failure: list[str] = field(default_factory=list)
    samples: np.ndarray | None = None     # bootstrap rows of (floor, ceiling, k, x0)

    NAMES = ("floor", "ceiling", "k", "x0")

    def predict(self, x: Any, params: Mapping[str, float] | None = None) -> np.ndarray:
        p = self.params if params is None else params
        x = np.asarray(x, dtype=float)
        return p["floor"] + (p["ceiling"] - p["floor"]) * _sigmoid(p["k"] * (x - p["x0"]))

    __call__ = predict

    @property
    def ok(self) -> bool:
        return self.converged and not self.at_bound

    def prediction_interval(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
        """Percentile band of the bootstrap fits' predictions at ``x`` (None without a
        bootstrap)."""
        if self.samples is None or not len(self.samples):
            return None
        preds = np.array([self.predict(x, dict(zip(self.NAMES, row))) for row in self.samples])
        q = 100 * (1 - level) / 2
        return np.percentile(preds, q, axis=0), np.percentile(preds, 100 - q, axis=0)

    def summary(self, digits: int = 4) -> str:
        parts = [f"{n} = {self.params[n]:.{digits}g}" + (" (fixed)" if n in self.fixed else "")
                 for n in self.NAMES]
        state = "converged" if self.converged else "NOT converged: " + "; ".join(self.failure)
        if self.at_bound:
            state += " · at a bound"
        return (f"sigmoid y = floor + (ceiling − floor)·σ(k·(x − x0)) · least squares · {self.n_points} points\n  "
                + " · ".join(parts) + f"\n  RSS = {self.rss:.{digits}g} · {state}")

    def __str__(self) -> str:
        return self.summary()


def _fit_once(x, y, fixed, lo, hi, starts):
    from scipy.optimize import least_squares
    free = [n for n in SigmoidFit.NAMES if n not in fixed]

    def full(theta):
        p = dict(fixed)
        p.update(zip(free, theta))
        return p

    def resid(theta):
        p = full(theta)
        return p["floor"] + (p["ceiling"] - p["floor"]) * _sigmoid(p["k"] * (x - p["x0"])) - y

    best = None
    for start in starts:
        s = np.clip([start[n] for n in free], lo + 1e-9, hi - 1e-9)
        out = least_squares(resid, s, bounds=(lo, hi), method="trf", x_scale="jac",
                            xtol=1e-12, ftol=1e-12, gtol=1e-10, max_nfev=4000)
        if best is None or out.cost < best.cost:
            best = out
    return best, full(best.x), free


def fit_sigmoid(x: Any, y: Any, *, floor: float | None = None, ceiling: float | None = None,
                bootstrap: int = 0, seed: int = 0, verbose: bool = True) -> SigmoidFit:
    """Least-squares sigmoid link from ``x`` to ``y``. ``floor``/``ceiling``: hold them
    fixed (e.g. the chance accuracy and 1); ``None`` fits them within the range of ``y``
    widened by its spread. The slope ``k`` may have either sign (negative: ``y`` falls
    with ``x``). ``bootstrap``: case resamples for :meth:`SigmoidFit.prediction_interval`."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise FitDataError(f"x and y differ in length ({x.size} vs {y.size})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise FitDataError("x and y must be finite (drop the missing scores first)")
    fixed = {k: float(v) for k, v in (("floor", floor), ("ceiling", ceiling)) if v is not None}
    free = [n for n in SigmoidFit.NAMES if n not in fixed]
    if x.size < len(free) + 1:
        raise FitDataError(f"a sigmoid with {len(free)} free parameters needs at least {len(free) + 1} points, got {x.size}")
    if np.ptp(x) == 0:
        raise FitDataError("x takes a single value: no slope to fit")
    spread = max(float(np.ptp(y)), 1e-6)
    xspan = float(np.ptp(x))
    bounds = {"floor": (float(y.min()) - 2 * spread, float(y.min()) + 0.5 * spread),
              "ceiling": (float(y.max()) - 0.5 * spread, float(y.max()) + 2 * spread),
              "k": (-200.0 / xspan, 200.0 / xspan),
              "x0": (float(x.min()) - 3 * xspan, float(x.max()) + 3 * xspan)}
    if "floor" in fixed and "ceiling" in fixed and not fixed["ceiling"] > fixed["floor"]:
        raise FitDataError("ceiling must be above floor")
    lo = np.array([bounds[n][0] for n in free])
    hi = np.array([bounds[n][1] for n in free])
    slope = float(np.sign(np.corrcoef(x, y)[0, 1]) or 1.0)
    starts = [{"floor": fixed.get("floor", float(y.min())), "ceiling": fixed.get("ceiling", float(y.max())),
               "k": slope * m * 4.0 / xspan, "x0": float(np.quantile(x, q))}
              for m in (0.5, 1.0, 3.0) for q in (0.25, 0.5, 0.75)]
    best, params, free = _fit_once(x, y, fixed, lo, hi, starts)
    at_bound = bool(np.any(np.isclose(best.x, lo, rtol=0, atol=1e-6 * (hi - lo)))
                    or np.any(np.isclose(best.x, hi, rtol=0, atol=1e-6 * (hi - lo))))
    failure = [] if best.success else [str(best.message)]
    result = SigmoidFit(params={n: float(params[n]) for n in SigmoidFit.NAMES}, fixed=fixed,
                        converged=bool(best.success), at_bound=at_bound, rss=float(2 * best.cost),
                        n_points=int(x.size), failure=failure)
    if bootstrap:
        rng = np.random.default_rng(seed)
        rows = []
        start = [dict(result.params)]
        for _ in range(int(bootstrap)):
            idx = rng.integers(0, x.size, x.size)
            if np.ptp(x[idx]) == 0:
                continue
            out, p, _ = _fit_once(x[idx], y[idx], fixed, lo, hi, start)
            rows.append([p[n] for n in SigmoidFit.NAMES])
        result.samples = np.array(rows) if rows else None
    if verbose:
        print(result.summary())
    return result


# -- held-out errors ----------------------------------------------------------------------
def prediction_errors(actual: Any, predicted: Any) -> dict[str, float]:
    """Held-out errors: ``mae`` (mean |pred − actual|), ``rmse``, ``max_abs``, and
    ``mean_rel`` / ``max_rel`` (|pred − actual| / |actual|), with ``n``."""
    a = np.asarray(actual, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    if a.size != p.size:
        raise FitDataError(f"actual and predicted differ in length ({a.size} vs {p.size})")
    if a.size == 0:
        raise FitDataError("no held-out points")
    err = np.abs(p - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = err / np.abs(a)
    return {"n": int(a.size), "mae": float(err.mean()), "rmse": float(math.sqrt(np.mean(err ** 2))),
            "max_abs": float(err.max()), "mean_rel": float(np.mean(rel)), "max_rel": float(np.max(rel))}


__all__ = ["CapabilityPCA", "capability_pca", "SigmoidFit", "fit_sigmoid", "prediction_errors"]
