"""Extrapolation check: fit on the runs below a cutoff (usually compute), predict the
held-out larger runs, report the absolute relative error of each prediction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalinglab.fit.api import FitDataError, fit_law
from scalinglab.fit.result import FitResult


def rmsle(pred: Any, true: Any) -> float:
    """Root mean squared error of natural logs: sqrt(mean((ln pred - ln true)^2))."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    return float(np.sqrt(np.mean((np.log(pred) - np.log(true)) ** 2)))


@dataclass
class ExtrapolationResult:
    fit: FitResult
    held_out: pd.DataFrame  # the held-out rows with prediction and abs_rel_error
    cutoff: float
    by: str

    @property
    def mean_are(self) -> float:
        return float(self.held_out["abs_rel_error"].mean())

    @property
    def max_are(self) -> float:
        return float(self.held_out["abs_rel_error"].max())

    @property
    def rmsle(self) -> float:
        return rmsle(self.held_out["prediction"], self.held_out["target"])

    def summary(self) -> str:
        return (f"fit on {self.fit.n_points} runs with {self.by} < {self.cutoff:.3g}; "
                f"{len(self.held_out)} held out: mean |rel. error| {self.mean_are:.3%}, "
                f"max {self.max_are:.3%}, RMSLE {self.rmsle:.4g}")

    def __str__(self) -> str:
        return self.summary()


def extrapolation_check(law: Any, data: pd.DataFrame, y: str = "loss", *, by: str = "C",
                        cutoff: float | None = None, quantile: float | None = None,
                        **fit_kwargs) -> ExtrapolationResult:
    """Fit ``law`` on rows with ``data[by] < cutoff`` (or below the given quantile of
    ``by``) and predict the rest. Extra keywords go to ``fit_law``."""
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    if by not in data.columns:
        raise FitDataError(f"missing column {by!r} to split on")
    if (cutoff is None) == (quantile is None):
        raise ValueError("give exactly one of cutoff= or quantile=")
    if cutoff is None:
        cutoff = float(np.quantile(data[by].to_numpy(float), quantile))
    train = data[data[by] < cutoff]
    test = data[data[by] >= cutoff]
    if len(test) == 0:
        raise FitDataError(f"no rows with {by} >= {cutoff:g} to extrapolate to")
    fit = fit_law(law, train, y, **fit_kwargs)
    pred = fit.predict(test)
    target = test[y].to_numpy(float)
    held = test.copy()
    held["target"] = target
    held["prediction"] = pred
    held["abs_rel_error"] = np.abs(pred - target) / np.abs(target)
    return ExtrapolationResult(fit=fit, held_out=held, cutoff=float(cutoff), by=by)
