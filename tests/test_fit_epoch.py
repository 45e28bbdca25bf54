"""The Besiroglu et al. 2024 (Epoch AI) refit of Hoffmann et al. 2022's Approach 3,
reproduced on their digitised data (through the registry and the local mirror)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from scalinglab.fit import Chinchilla, chi2_test, compute_optimal, exponent_a, fit_law
from scalinglab.fit.engine import Problem

# Epoch's fit (Besiroglu et al. 2024; log-form values from their notebook, facts sheet 2b)
EPOCH = {"E": float(np.exp(0.59711196)), "A": float(np.exp(6.17795598)), "B": float(np.exp(7.64273236)),
         "alpha": 0.34781303, "beta": 0.36585412}
# Their bootstrap standard errors (Besiroglu et al. 2024, Table; secondary in the facts sheet)
EPOCH_SE = {"E": 0.03, "A": 124.58, "B": 1293.23, "alpha": 0.02, "beta": 0.02}
# Hoffmann et al. 2022, Eq. 10, unrounded from the arXiv TeX source (facts sheet 2)
HOFFMANN_TEX = {"E": float(np.exp(0.5267228)), "A": float(np.exp(6.0073404)), "B": float(np.exp(6.0179186)),
                "alpha": 0.33917084, "beta": 0.2849083}


@pytest.fixture(scope="module")
def runs():
    os.environ.setdefault("SCALINGLAB_DATA_MIRROR", "../shared/mirror")
    from scalinglab.data.published import epoch_chinchilla_runs
    return epoch_chinchilla_runs()


@pytest.fixture(scope="module")
def refit(runs):
    return fit_law("chinchilla", runs, "loss", objective="huber", huber_delta=1e-3, reduction="sum",
                   bootstrap=200, seed=0, verbose=False)


def test_the_240_points(runs):
    assert len(runs) == 240
    assert np.allclose(runs.C, 6 * runs.N * runs.D)


def test_refit_reproduces_epoch_within_a_quarter_of_their_standard_errors(refit):
    """Tolerance: 0.25 of Epoch's own bootstrap SE per parameter. The optimum is flat
    along A and B (SE ~25% and ~60%), so optimisers stopping at slightly different
    points is expected; a difference of a quarter SE is far below what the data can
    resolve, yet still catches a wrong objective (mean vs sum with loose tolerances
    moves alpha by 0.05 = 2.5 SE, A by 290 = 2.3 SE)."""
    assert refit.converged and not refit.at_bound
    for name, value in EPOCH.items():
        assert abs(refit.params[name] - value) <= 0.25 * EPOCH_SE[name], name


def test_refit_is_at_least_as_good_as_epoch_and_better_than_hoffmann(refit, runs):
    prob = Problem(Chinchilla(), {"N": runs.N.to_numpy(), "D": runs.D.to_numpy()}, runs.loss.to_numpy())
    at = lambda p: prob.objective(Chinchilla().from_public(p)[None, :])[0]
    assert refit.objective <= at(EPOCH) * (1 + 1e-6)
    assert refit.objective == pytest.approx(0.00102, abs=2e-5)  # facts sheet 2b, computed there
    assert at(HOFFMANN_TEX) == pytest.approx(0.00123, abs=2e-5)


def test_hoffmann_vector_rejected_and_tokens_per_parameter(refit):
    assert chi2_test(refit, HOFFMANN_TEX).p_value < 1e-6
    assert 0.48 < exponent_a(refit.params) < 0.55
    at_chinchilla = compute_optimal(refit, [5.76e23])
    assert 15 < at_chinchilla.tokens_per_param[0] < 25  # Epoch: ~20 (facts sheet 2b)


def test_the_4500_grid_reaches_the_same_optimum(runs, refit):
    few = Chinchilla().named_grid("chinchilla-4500")[::45]  # 100 of the 4,500 starts
    fit = fit_law("chinchilla", runs, "loss", starts=few, verbose=False)
    assert fit.objective == pytest.approx(refit.objective, rel=1e-7)
