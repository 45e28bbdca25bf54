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
from scalinglab.fit.laws import (
    BrokenPowerLaw, Chinchilla, DataConstrained, KaplanN, KaplanND, KaplanNS, KaplanD, Law,
    LogLogLine, PowerLaw, get_law,
)
from scalinglab.fit.result import FitResult

__all__ = [
    "laws", "fit_law", "fit_power_law", "loglog_slope", "prepare", "FitDataError", "FitResult",
    "Law", "PowerLaw", "KaplanN", "KaplanD", "KaplanND", "KaplanNS", "Chinchilla",
    "DataConstrained", "BrokenPowerLaw", "LogLogLine", "get_law",
]
