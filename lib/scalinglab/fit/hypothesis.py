"""Tests of a published parameter vector against our fit (as Besiroglu et al. 2024 did
for Hoffmann et al. 2022's Approach 3).

- ``chi2_test``: the Wald statistic d' Σ⁻¹ d, with d the difference between the
  published and fitted parameters in internal coordinates (log of scale constants,
  exponents as they are) and Σ the bootstrap covariance of the fit; chi-square with
  one degree of freedom per parameter tested.
- ``likelihood_ratio_test``: how much worse the published vector does on the fit's own
  objective than the optimum, T = f(published) - f(fit). With ``calibration=
  "bootstrap"`` (the default when the fit has bootstrap samples) T is compared with its
  bootstrap distribution T*_b = f_b(fit) - f_b(refit on resample b), which is valid for
  a Huber objective; with ``"gaussian"`` the statistic is the Gaussian likelihood ratio
  of the log residuals, n log(RSS_published / RSS_least-squares-refit), against a
  chi-square with one degree of freedom per free parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from scalinglab.fit.api import prepare
from scalinglab.fit.engine import Problem
from scalinglab.fit.result import FitResult


@dataclass(frozen=True)
class TestResult:
    name: str
    statistic: float
    df: int
    p_value: float
    resamples: int = 0

    def rejects(self, alpha: float = 0.05) -> bool:
        return bool(self.p_value < alpha)

    def p_text(self) -> str:
        """The p-value as it may be printed: with a bootstrap, never below 1/(K+1)."""
        if self.resamples and self.p_value <= 1.0 / (self.resamples + 1) + 1e-15:
            return f"p ≤ {1.0 / (self.resamples + 1):.2g} ({self.resamples} resamples)"
        return "p < 1e-10" if self.p_value < 1e-10 else f"p = {self.p_value:.2g}"

    def __str__(self) -> str:
        return f"{self.name}: statistic {self.statistic:.4g}" + (f" on {self.df} df" if not self.resamples else "") + \
            f", {self.p_text()}"


def _internal(fit: FitResult, params: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    out = []
    for n in names:
        p = fit.law.params[fit.law.names.index(n)]
        out.append(p.to_internal(float(params[n])))
    return np.array(out)


def chi2_test(fit: FitResult, published: Mapping[str, float], names: Sequence[str] | None = None) -> TestResult:
    """Is ``published`` consistent with the fit's bootstrap distribution?"""
    names = tuple(names or fit.law.free)
    cov = fit.covariance(names)
    d = _internal(fit, published, names) - _internal(fit, fit.params, names)
    stat = float(d @ np.linalg.solve(cov, d))
    return TestResult("chi-square (bootstrap covariance)", stat, len(names), float(stats.chi2.sf(stat, len(names))))


def likelihood_ratio_test(fit: FitResult, published: Mapping[str, float], data: Any = None, y: Any = None,
                          calibration: str = "auto") -> TestResult:
    """Compare the published vector with the fit on the fit's data (see the module
    docstring). ``data``/``y`` default to the data the fit holds; when given they must
    be what the fit was made on (for the bootstrap calibration the resamples are
    regenerated from the fit's seed)."""
    if calibration == "auto":
        calibration = "bootstrap" if fit.samples is not None else "gaussian"
    if data is None:
        if fit.data is None:
            raise ValueError("likelihood_ratio_test needs data= for a fit that does not hold its data")
        X, y_arr = fit.data
    else:
        X, y_arr = prepare(fit.law, data, y)
    law = fit.law
    pub = {**fit.params, **{k: float(v) for k, v in published.items()}}
    df = len(law.free)
    if calibration == "gaussian":
        from scalinglab.fit.api import fit_law
        ly = np.log(y_arr)
        mle = fit_law(law, X, y_arr, objective="lsq", space="log", verbose=False)
        rss_fit = float(np.sum((np.log(mle.predict(X)) - ly) ** 2))
        rss_pub = float(np.sum((np.log(law.predict(pub, X)) - ly) ** 2))
        stat = float(ly.size * np.log(rss_pub / rss_fit))
        return TestResult("likelihood ratio (Gaussian log residuals)", stat, df, float(stats.chi2.sf(stat, df)))
    if calibration != "bootstrap":
        raise ValueError(f"calibration={calibration!r} is not 'auto', 'bootstrap' or 'gaussian'")
    if fit.samples is None:
        raise ValueError("the bootstrap calibration needs a fit with bootstrap > 0")
    if y_arr.size != fit.n_points:
        raise ValueError(f"the fit was made on {fit.n_points} points, the data given has {y_arr.size}")
    s = fit.settings
    prob = Problem(law, X, y_arr, s["objective"], s["huber_delta"], s["reduction"], s["space"])
    idx = law.free_index
    theta_hat = law.from_public(fit.params)[idx]
    stat = float(prob.objective(law.from_public(pub)[idx][None, :])[0] - prob.objective(theta_hat[None, :])[0])
    # the same resamples the fit's bootstrap drew (same generator, seed and shape)
    K = fit.samples.shape[0]
    rows = np.random.default_rng(s["seed"]).integers(0, y_arr.size, size=(K, y_arr.size))
    boot_theta = np.array([law.from_public(p)[idx] for p in fit.bootstrap_params])
    Xb = {c: v[rows] for c, v in X.items()}
    batch = Problem(law, Xb, y_arr[rows], s["objective"], s["huber_delta"], s["reduction"], s["space"])
    t_star = batch.objective(np.repeat(theta_hat[None, :], K, axis=0)) - batch.objective(boot_theta)
    p = float((1 + np.sum(t_star >= stat)) / (K + 1))
    return TestResult("objective difference (bootstrap-calibrated)", stat, df, p, resamples=K)
