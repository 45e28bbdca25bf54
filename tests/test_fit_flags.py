"""Honest fit flags: ``converged`` means a stationary point off the bounds for every
optimiser, the reasons are recorded, and bootstrap intervals that reach a bound of a
parameter's range are flagged and never handed out as numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scalinglab.fit import (
    Chinchilla, FitResult, KaplanD, PowerLaw, exponent_a, fit_law, fit_power_law,
)
from scalinglab.fit import engine
from scalinglab.fit.engine import Problem
from scalinglab.fit.laws import Param

from test_fit import chinchilla_grid


def _problem(df, law=None, **kw):
    law = law or Chinchilla()
    return Problem(law, {"N": df.N.to_numpy(), "D": df.D.to_numpy()}, df.loss.to_numpy(), **kw)


# ----------------------------------------------------------------------------------
# (b) a parameter on a bound of its range
# ----------------------------------------------------------------------------------
def test_a_fit_that_ends_on_a_bound_is_not_converged_and_says_why(capsys):
    x = np.geomspace(1e3, 1e6, 10)
    fit = fit_power_law(x, 5.0 * x ** -0.2, offset=True, verbose=True)  # no offset: E runs to 0
    assert fit.at_optimum is True  # a stationary point of the bounded problem ...
    assert fit.converged is False  # ... but on the box, not at a value
    assert fit.at_bound == ["E"]
    assert fit.failure == ["at bound: E (log E at the lower end of its range [-30, 10])"]
    assert fit.message == "not converged: at bound: E (log E at the lower end of its range [-30, 10])"
    out = capsys.readouterr().out
    assert "\n  NOT converged: at bound: E (log E at the lower end" in out
    assert out.count("at bound: E") == 1  # the reason names it; no second flag
    assert "<b>not converged</b>: at bound: E (log E at the lower end" in fit._repr_html_()
    back = FitResult.from_json(fit.to_json())
    assert back.converged is False and back.failure == fit.failure and back.message == fit.message


class _PowerLawWithZeroOffset(PowerLaw):
    """E -> 0 declared a legitimate end of E's range (a power law without offset)."""

    def __init__(self, fixed=None):
        super().__init__(offset=True, fixed=fixed)
        A, alpha, E = self._params
        self._params = (A, alpha, Param(E.name, E.transform, E.lo, E.hi, E.grid, boundary=("lo",)))


def test_a_declared_legitimate_boundary_does_not_block_convergence():
    x = np.geomspace(1e3, 1e6, 10)
    law = _PowerLawWithZeroOffset()
    fit = fit_law(law, {"x": x}, 5.0 * x ** -0.2, objective="lsq", verbose=False)
    assert fit.converged is True and fit.failure == []
    assert fit.at_bound == ["E"]  # the estimate is still reported as on a bound
    assert fit.summary().endswith("\n  converged · at bound: E")
    with pytest.raises(ValueError, match="boundary"):
        Param("E", "log", -1.0, 1.0, (0.0,), boundary=("low",))


def test_ran_away_parameters_count_as_at_a_bound():
    # A log-parameter driven to the end of its range: the verdict reads the point
    law = Chinchilla()
    df = chinchilla_grid(seed=0, noise=0.01)
    prob = _problem(df)
    theta = law.from_public({"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37})
    theta[2] = 80.0  # log B at the upper end of [-10, 80]
    v = engine.explain(prob, theta)
    assert not v["converged"]
    assert "at bound: B (log B at the upper end of its range [-10, 80])" in v["failure"]
    assert engine.assess(prob, theta[None, :])["at_bound"].tolist() == [True]


# ----------------------------------------------------------------------------------
# (a) the first-order test, for every optimiser
# ----------------------------------------------------------------------------------
def test_a_plain_optimiser_that_stopped_early_is_not_converged():
    # scipy's L-BFGS-B calls this stop a success; it is not an optimum
    df = chinchilla_grid(seed=4, noise=0.02)
    starts = Chinchilla().named_grid("chinchilla-4500")[:6]
    early = fit_law("chinchilla", df, "loss", optimizer="scipy", reduction="mean", starts=starts, verbose=False)
    assert early.converged is False and early.at_optimum is False
    assert early.failure == ["gradient tolerance not met (Gauss-Newton decrement above 1e-8 of the objective)"]
    assert early.stats["gauss_newton_decrement"] > 1e-8  # its size: in stats, not in the message
    assert "NOT converged: gradient tolerance not met" in early.summary()


def test_exactly_fitted_data_are_at_an_optimum():
    # the objective is rounding (~1e-30) there; the decrement test has a floor for it
    df = chinchilla_grid()
    fit = fit_law("chinchilla", df, "loss", verbose=False)
    assert fit.objective < 1e-25
    assert fit.at_optimum is True and fit.converged is True and fit.failure == []
    lin = fit_law("chinchilla", df, "loss", space="linear", objective="lsq", verbose=False)
    assert lin.at_optimum is True and lin.converged is True


@pytest.mark.parametrize("eps", [0.0, 1e-12, -1e-12])
def test_the_verdict_and_its_reasons_survive_tiny_perturbations(eps):
    rng = np.random.default_rng(1)
    x = np.geomspace(1e3, 1e6, 10)
    y = 5.0 * x ** -0.2 * np.exp(0.01 * np.random.default_rng(0).standard_normal(x.size))
    y = y * (1 + eps * rng.standard_normal(x.size))
    fit = fit_power_law(x, y, offset=True, verbose=False)
    assert fit.converged is False and fit.at_optimum is True
    assert fit.failure == ["at bound: E (log E at the lower end of its range [-30, 10])"]
    df = chinchilla_grid(seed=5, noise=0.02)
    df["loss"] = df["loss"] * (1 + eps * rng.standard_normal(len(df)))
    good = fit_law("chinchilla", df, "loss", verbose=False)
    assert good.converged and good.failure == [] and good.message == "converged"


# ----------------------------------------------------------------------------------
# (c) stalled Levenberg-Marquardt starts
# ----------------------------------------------------------------------------------
def test_an_lm_start_that_stalls_away_from_an_optimum_is_not_converged(monkeypatch):
    # A damping cap just above the initial damping makes the first rejected step a
    # stall: those starts end where they are, far from the optimum.
    df = chinchilla_grid(seed=4, noise=0.02)
    prob = _problem(df)
    starts = Chinchilla().named_grid("chinchilla-4500")[::300]
    monkeypatch.setattr(engine, "LM_DAMPING_CAP", 1e-3)
    out = engine.levenberg_marquardt(prob, starts, merge_tol=0)
    assert out["stalled"].any()
    assert not out["converged"][out["stalled"]].any()
    assert np.all(out["damping"][out["stalled"]] > 1e-3)
    # the same through fit_law, with a polish that cannot move (so the stalled LM
    # point is what the fit returns)
    i = int(np.flatnonzero(out["stalled"])[0])
    monkeypatch.setattr(engine, "polish", lambda problem, theta: (
        theta, float(problem.objective(theta[None, :])[0]), False, "ABNORMAL_TERMINATION_IN_LNSRCH"))
    fit = fit_law("chinchilla", df, "loss", starts=starts[i:i + 1], verbose=False)
    assert fit.converged is False
    assert fit.failure[0] == f"stalled (LM damping {engine._e(out['damping'][i])})"
    assert fit.failure[1].startswith("gradient tolerance not met")


def test_a_stall_at_an_optimum_is_not_a_failure():
    # damping that blows up because no step can lower the objective any more is how a
    # start ends on an optimum resolved to the last bit: the point decides
    df = chinchilla_grid(seed=3, noise=0.01)
    fit = fit_law("chinchilla", df, "loss", verbose=False)
    prob = _problem(df)
    theta = fit.law.from_public(fit.params)
    v = engine.assess(prob, theta[None, :], stalled=np.array([True]))
    assert v["converged"].tolist() == [True] and v["stalled"].tolist() == [False]
    moved = theta.copy()
    moved[-1] += 1e-3
    v = engine.assess(prob, moved[None, :], stalled=np.array([True]))
    assert v["converged"].tolist() == [False] and v["stalled"].tolist() == [True]
    assert engine.explain(prob, moved, stall="stalled (LM damping 3e12)")["failure"][0] == "stalled (LM damping 3e12)"
    assert engine._e(3e12) == "3e12" and engine._e(2.5e-5) == "2.5e-5"


# ----------------------------------------------------------------------------------
# bootstrap intervals that reach a bound
# ----------------------------------------------------------------------------------
def test_an_interval_that_reaches_a_bound_is_flagged_though_the_estimate_is_not(capsys):
    # Kaplan's L(D) on a nearly flat curve: the estimate of log D_c is 166, inside
    # [-20, 200]; a share of the resamples runs D_c to e^200
    D = np.geomspace(1e7, 1e10, 9)
    y = 3.0 * (D / 1e7) ** -0.008 * np.exp(0.01 * np.random.default_rng(0).standard_normal(D.size))
    fit = fit_law(KaplanD(), {"D": D}, y, bootstrap=200, seed=0, verbose=True)
    assert fit.at_bound == [] and fit.converged
    assert math.log(fit.intervals["D_c"][1]) == pytest.approx(200.0)  # the raw percentile
    assert fit.bound_limited == ["D_c"]
    assert fit.interval("D_c") is None
    assert fit.interval("alpha_D") == fit.intervals["alpha_D"]
    out = capsys.readouterr().out
    assert "bound-limited intervals: D_c" in out
    assert "e+86" not in out  # e^200: never printed as a result
    assert fit.stats["bootstrap_converged_fraction"] == pytest.approx(1 - fit.bound_share["D_c"])


def test_interval_summary_and_html_for_a_bound_limited_interval():
    df = chinchilla_grid(seed=2, noise=0.01)
    fit = fit_law("chinchilla", df, "loss", bootstrap=30, seed=0, verbose=False)
    assert fit.bound_limited == [] and fit.interval("B") == fit.intervals["B"]
    d = json.loads(fit.to_json())
    d["intervals"]["B"] = [1500.0, math.exp(80.0)]  # the upper end of log B's range
    edited = FitResult.from_dict(d)
    assert edited.bound_limited == ["B"] and edited.interval("B") is None
    assert edited.interval("A") == tuple(edited.intervals["A"])
    text = edited.summary()
    assert "B = " in text and "95% bound-limited" in text and "5.5e+34" not in text
    assert text.endswith("\n  converged · bound-limited intervals: B")
    assert "bound-limited" in edited._repr_html_()
    # a and b (the compute-optimal exponents) read alpha and beta, not B
    assert [r["bound_limited"] for r in edited.table()] == [False, False, True, False, False, False, False]
    # a derived quantity over a bound-limited parameter has no interval when it says so
    assert edited.derived(exponent_a, uses=["alpha", "beta"])[1] is not None
    assert edited.derived(lambda p: p["B"], uses=["B"])[1] is None
    with pytest.raises(KeyError, match="not a parameter"):
        edited.interval("gamma")
    with pytest.raises(KeyError, match="not a parameter"):
        edited.derived(exponent_a, uses=["gamma"])
    # no bootstrap: no interval
    plain = fit_law("chinchilla", df, "loss", verbose=False)
    assert plain.interval("alpha") is None and plain.bound_limited == []


def test_a_tied_exponent_inherits_the_flag_of_the_one_it_copies():
    df = chinchilla_grid(seed=2, noise=0.01)
    fit = fit_law("chinchilla", df, "loss", tied=True, bootstrap=20, seed=0, verbose=False)
    d = json.loads(fit.to_json())
    d["intervals"]["alpha"] = [0.3, 4.0]  # the upper end of alpha's range
    edited = FitResult.from_dict(d)
    assert edited.bound_limited == ["alpha", "beta", "a", "b"]
    assert edited.interval("beta") is None


def test_an_unidentified_parameter_is_bound_limited():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e6, 10)
    y = 5.0 * x ** -0.2 * np.exp(0.01 * rng.standard_normal(x.size))
    fit = fit_power_law(x, y, offset=True, bootstrap=60, seed=0, verbose=False)
    assert fit.not_identified == ["E"] and fit.bound_limited == ["E"]
    assert fit.interval("E") is None and fit.interval("alpha") is not None


def test_closed_form_slopes_are_never_bound_limited():
    from scalinglab.fit import loglog_slope
    x = np.geomspace(1, 1e4, 9)
    s = loglog_slope(x, 2.0 * x ** -0.3 * np.exp(0.01 * np.random.default_rng(0).standard_normal(9)), bootstrap=50)
    assert s.converged and s.failure == [] and s.bound_limited == []
    assert s.interval("slope") == s.intervals["slope"]


def test_old_results_without_reasons_still_load():
    df = chinchilla_grid(seed=2, noise=0.01)
    d = fit_law("chinchilla", df, "loss", verbose=False).to_dict()
    del d["failure"]
    d["converged"] = False
    old = FitResult.from_dict(d)
    assert old.failure == [] and old.message == "not converged: reason not recorded"
    assert "\n  NOT converged" in old.summary()


def test_status_word_names_the_reason_in_short():
    import numpy as np
    from scalinglab.fit import fit_law
    x = np.array([1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4])
    y = 5.0 * x ** -0.3
    fit = fit_law("power", {"x": x}, y, verbose=False)
    assert fit.converged and fit.status == "converged"
