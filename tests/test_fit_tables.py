"""Comparison and allocation tables of parameter vectors (scalinglab.fit.tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.fit import (
    Chinchilla, allocation_table, bootstrap_se, chinchilla_frontier, compute_optimal, fit_law,
    parameter_table,
)

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
PUBLISHED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(0)
    rows = []
    for C in np.geomspace(1e18, 1e21, 6):
        n_opt = chinchilla_frontier(TRUTH, C)["N_opt"]
        for N in n_opt * np.geomspace(0.1, 10, 8):
            rows.append({"N": N, "D": C / (6 * N)})
    df = pd.DataFrame(rows)
    df["loss"] = Chinchilla().predict(TRUTH, df) * np.exp(0.01 * rng.standard_normal(len(df)))
    return fit_law("chinchilla", df, bootstrap=40, verbose=False)


def test_parameter_table_puts_vectors_side_by_side(fit):
    table = parameter_table({"ours": fit, "published": PUBLISHED}, names=["E", "alpha", "beta", "a"],
                            se={"published": {"alpha": 0.02}}, objective_on=fit, show_se=True)
    assert list(table.index)[:4] == ["E", "alpha", "beta", "a"]
    assert list(table.columns) == ["ours", "ours 95%", "ours SE", "published", "published SE"]
    assert table.loc["alpha", "ours"] == f"{fit.params['alpha']:.4g}"
    assert table.loc["alpha", "published SE"] == "0.02" and table.loc["E", "published SE"] == ""
    # a published vector gets the quantities the fit's law derives from it
    assert table.loc["a", "published"] == f"{0.28 / (0.34 + 0.28):.4g}"
    objective_row = table.loc["objective (huber, sum)"]
    assert objective_row["ours"] == f"{fit.objective:.4g}"
    assert float(objective_row["published"]) > fit.objective
    assert float(table.loc["alpha", "ours SE"]) == pytest.approx(bootstrap_se(fit, "alpha"), rel=0.05)


def test_a_bound_limited_interval_reads_as_such(fit):
    edited = type(fit).from_dict({**fit.to_dict(), "intervals": {**{k: list(v) for k, v in fit.intervals.items()},
                                                                  "B": [fit.params["B"], np.exp(80.0)]}})
    table = parameter_table({"ours": edited}, names=["B"])
    assert table.loc["B", "ours 95%"] == "bound-limited"
    assert bootstrap_se(edited, "B") is None


def test_allocation_table_matches_compute_optimal(fit):
    budgets = [1e21, 5.76e23]
    table = allocation_table({"ours": fit, "published": PUBLISHED}, budgets)
    alloc = compute_optimal(PUBLISHED, budgets)
    row = table.loc[("published", "5.76e+23")]
    assert row["N_opt"] == f"{alloc.N_opt[1]:.3g}" and row["tokens/param"] == f"{alloc.tokens_per_param[1]:.3g}"
    assert table.loc[("ours", "1e+21"), "tokens/param 95%"].startswith("[")
    assert table.loc[("published", "1e+21"), "tokens/param 95%"] == ""


@pytest.mark.parametrize("sources,match", [({}, "needs a mapping"), ({"x": 3.0}, "must be a FitResult")])
def test_bad_sources_are_one_line_errors(sources, match):
    with pytest.raises(ValueError, match=match):
        parameter_table(sources)
    with pytest.raises(ValueError, match=match):
        allocation_table(sources, [1e21])


def test_se_for_an_unknown_source_is_an_error(fit):
    with pytest.raises(ValueError, match="not among the sources"):
        parameter_table({"ours": fit}, se={"Epoch": {"E": 0.1}})


def test_allocation_intervals_are_results_only_where_the_parameters_are(fit):
    alloc = compute_optimal(fit, [1e21, 1e23])
    assert alloc.bound_limited == [] and alloc.interval("tokens_per_param", 1) == alloc.intervals["tokens_per_param"][1]
    edited = type(fit).from_dict({**fit.to_dict(), "intervals": {**{k: list(v) for k, v in fit.intervals.items()},
                                                                  "B": [fit.params["B"], np.exp(80.0)]}})
    limited = compute_optimal(edited, [1e21])
    assert limited.bound_limited == ["B"] and limited.interval("N_opt") is None
    assert compute_optimal(PUBLISHED, [1e21]).interval("loss") is None  # no bootstrap
    with pytest.raises(KeyError, match="not one of"):
        alloc.interval("tokens")


def test_an_interval_at_another_level(fit):
    lo80, hi80 = fit.interval("a", level=0.8)
    lo95, hi95 = fit.interval("a")
    assert lo95 <= lo80 <= fit.params["a"] <= hi80 <= hi95
    assert fit.interval("a", level=0.95) == (lo95, hi95)


def test_a_bound_limited_irreducible_loss_leaves_the_optimum_intervals_standing(fit):
    edited = type(fit).from_dict({**fit.to_dict(), "intervals": {**{k: list(v) for k, v in fit.intervals.items()},
                                                                  "E": [np.exp(-12.0), fit.params["E"]]}})
    alloc = compute_optimal(edited, [1e21])
    assert alloc.bound_limited == ["E"]
    assert alloc.interval("tokens_per_param") is not None and alloc.interval("N_opt") is not None
    assert alloc.interval("loss") is None
