"""Tests of a published parameter vector against our fit (as Besiroglu et al. 2024 did
for Hoffmann et al. 2022's Approach 3).

- ``chi2_test``: the Wald statistic d' Σ⁻¹ d, with d the difference between the
  published and fitted parameters in internal coordinates (log of scale constants,
  exponents as they are) and Σ the bootstrap covariance of the fit; chi-square with
  one degree of freedom per parameter tested.
- ``likelihood_ratio_test``: Gaussian likelihood of the log residuals: n log(RSS_pub /
  RSS_mle), where RSS_mle is the least-squares refit of the same law on the same data
  (the Gaussian maximum-likelihood fit, whatever loss the given fit used); chi-square
  with one degree of freedom per free parameter (the published vector is a fully
  specified null).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from scalinglab.fit.api import prepare
from scalinglab.fit.result import FitResult


@dataclass(frozen=True)
class TestResult:
    name: str
    statistic: float
    df: int
    p_value: float

    def rejects(self, alpha: float = 0.05) -> bool:
        return bool(self.p_value < alpha)

    def __str__(self) -> str:
        p = f"{self.p_value:.3g}" if self.p_value >= 1e-300 else "< 1e-300"
        return f"{self.name}: statistic {self.statistic:.4g} on {self.df} df, p = {p}"


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


def likelihood_ratio_test(fit: FitResult, published: Mapping[str, float], data: Any, y: Any = "loss",
                          names: Sequence[str] | None = None) -> TestResult:
    """Gaussian likelihood ratio of the maximum-likelihood (least-squares, log space)
    refit of ``fit.law`` against the published parameters on the same data."""
    from scalinglab.fit.api import fit_law
    X, y_arr = prepare(fit.law, data, y)
    ly = np.log(y_arr)
    mle = fit_law(fit.law, X, y_arr, loss="lsq", space="log", verbose=False)
    rss_fit = float(np.sum((np.log(mle.predict(X)) - ly) ** 2))
    pub = {**fit.params, **{k: float(v) for k, v in published.items()}}
    rss_pub = float(np.sum((np.log(fit.law.predict(pub, X)) - ly) ** 2))
    stat = float(ly.size * np.log(rss_pub / rss_fit))
    df = len(tuple(names or fit.law.free))
    return TestResult("likelihood ratio (Gaussian log residuals)", stat, df, float(stats.chi2.sf(stat, df)))
