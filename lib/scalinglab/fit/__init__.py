"""scalinglab.fit: scaling laws, estimators, uncertainty and compute-optimal allocation.

    from scalinglab.fit import fit_law
    fit = fit_law("chinchilla", runs, columns={"N": "params", "D": "tokens", "loss": "val_loss"},
                  objective="huber", huber_delta=1e-3, bootstrap=1000, n_jobs=2)
    fit.params["alpha"], fit.interval("alpha"), fit.params["a"], fit.predict(N=7e10, D=1.4e12)

``objective`` is what a fit minimises; ``columns`` maps roles (``N``, ``D``, ``C``,
``x``, ``loss``...) to a table's columns; exponents are positive magnitudes in the
direction the law names, slopes are signed (see ``scalinglab.fit.api``). Every fit
prints the choices it made and returns a :class:`FitResult` with convergence and
at-bound flags, the objective as minimised, and the residual sum of squares and RMSE.

Names load on first use, so ``import scalinglab.fit`` stays quick (the command line
reports a fit in well under a second).
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "fit_law": "api", "fit_power_law": "api", "loglog_slope": "api", "prepare": "api",
    "FitDataError": "api",
    "ExtrapolationResult": "extrapolation", "extrapolation_check": "extrapolation", "rmsle": "extrapolation",
    "TestResult": "hypothesis", "chi2_test": "hypothesis", "likelihood_ratio_test": "hypothesis",
    "IsoFlopResult": "isoflop", "envelope_approach1": "isoflop", "isoflop_approach2": "isoflop",
    "isoflop_minimum": "isoflop", "parabola_vertex": "isoflop", "Vertex": "isoflop",
    "Law": "laws", "PowerLaw": "laws", "KaplanN": "laws", "KaplanD": "laws", "KaplanND": "laws",
    "KaplanNS": "laws", "Chinchilla": "laws", "DataConstrained": "laws", "BrokenPowerLaw": "laws",
    "LogLogLine": "laws", "get_law": "laws",
    "Allocation": "optimal", "chinchilla_frontier": "optimal", "compute_optimal": "optimal",
    "exponent_a": "optimal", "exponent_b": "optimal",
    "bootstrap_interval": "resample",
    "BatchTradeoff": "batch", "fit_batch_tradeoff": "batch",
    "FitResult": "result",
    "parameter_table": "tables", "allocation_table": "tables", "bootstrap_se": "tables",
}
_SUBMODULES = ("api", "batch", "cli", "engine", "extrapolation", "hypothesis", "isoflop", "isoflop_cli", "laws",
               "optimal", "resample", "result", "tables")

__all__ = ["laws", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"scalinglab.fit.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"scalinglab.fit.{name}")
    raise AttributeError(f"module 'scalinglab.fit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(_SUBMODULES))
