"""scalinglab.fit: scaling laws, estimators, uncertainty and compute-optimal allocation.

    from scalinglab.fit import fit_law
    fit = fit_law("chinchilla", runs, "loss", loss="huber", huber_delta=1e-3,
                  reduction="sum", space="log", bootstrap=1000, n_jobs=2)
    fit.params["alpha"], fit.intervals["alpha"], fit.predict(N=7e10, D=1.4e12)

Every fit prints the choices it made and returns a :class:`FitResult` with convergence
and at-bound flags.
"""
from scalinglab.fit import laws
from scalinglab.fit.api import FitDataError, fit_law, fit_power_law, loglog_slope, prepare
from scalinglab.fit.extrapolation import ExtrapolationResult, extrapolation_check, rmsle
from scalinglab.fit.hypothesis import TestResult, chi2_test, likelihood_ratio_test
from scalinglab.fit.isoflop import IsoFlopResult, envelope_approach1, isoflop_approach2, isoflop_minimum
from scalinglab.fit.laws import (
    BrokenPowerLaw, Chinchilla, DataConstrained, KaplanD, KaplanN, KaplanND, KaplanNS, Law,
    LogLogLine, PowerLaw, get_law,
)
from scalinglab.fit.optimal import (
    Allocation, chinchilla_frontier, compute_optimal, exponent_a, exponent_b,
)
from scalinglab.fit.resample import bootstrap_interval
from scalinglab.fit.result import FitResult

__all__ = [
    "laws", "fit_law", "fit_power_law", "loglog_slope", "prepare", "FitDataError", "FitResult",
    "Law", "PowerLaw", "KaplanN", "KaplanD", "KaplanND", "KaplanNS", "Chinchilla",
    "DataConstrained", "BrokenPowerLaw", "LogLogLine", "get_law",
    "compute_optimal", "chinchilla_frontier", "exponent_a", "exponent_b", "Allocation",
    "isoflop_approach2", "envelope_approach1", "isoflop_minimum", "IsoFlopResult",
    "chi2_test", "likelihood_ratio_test", "TestResult",
    "extrapolation_check", "ExtrapolationResult", "rmsle", "bootstrap_interval",
]
