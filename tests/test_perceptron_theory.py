"""Replica theory of the max-margin perceptron on pruned data, against exact limits and
against the simulated perceptron."""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from scalinglab.models import perceptron as pc
from scalinglab.theory import perceptron_pruning as pp


def test_gaussian_hinge_square_is_the_gaussian_average():
    for a, s in [(0.3, 1.0), (-1.2, 0.4), (2.0, 0.05)]:
        direct = integrate.quad(lambda t: max(a - s * t, 0.0) ** 2 * stats.norm.pdf(t),
                                -12, 12, points=[a / s], limit=200)[0]
        assert pp.gaussian_hinge_square(a, s) == pytest.approx(direct, rel=1e-8)


def test_gardner_capacity_is_two():
    # Unpruned data, student forced orthogonal to the teacher (R = 0): the labels look
    # random to it, and zero margin is reachable exactly up to alpha = 2 (Gardner 1988).
    q = pp._quadrature(1.0, "hard", 0.0)
    assert pp._F_and_gradient(0.0, 0.0, 0.0, 2.0, q)[0] == pytest.approx(0.0, abs=1e-12)
    assert pp._kappa_at(0.0, 0.0, 2.0, q) == pytest.approx(0.0, abs=1e-10)
    assert pp._kappa_at(0.0, 0.0, 1.0, q) > 0 > pp._kappa_at(0.0, 0.0, 3.0, q)


def test_solution_is_stationary_and_consistent():
    for args in [(4.0, 1.0, "hard", 0.0), (3.0, 0.3, "easy", 0.0), (4.0, 0.25, "hard", 0.2)]:
        sol = pp.pruned_max_margin_theory(*args)
        assert sol.converged
        q = pp._quadrature(args[1], args[2], args[3])
        F, dR, drho, _ = pp._F_and_gradient(sol.overlap, sol.probe_overlap, sol.margin, args[0], q)
        assert abs(F) < 1e-9 and abs(dR) < 1e-6 and abs(drho) < 1e-6
        assert sol.error == pytest.approx(math.acos(sol.overlap) / math.pi)


def test_small_probe_angle_is_continuous_with_the_perfect_probe():
    exact = pp.pruned_max_margin_theory(4.0, 0.25, "hard", 0.0)
    near = pp.pruned_max_margin_theory(4.0, 0.25, "hard", 1e-3)
    assert near.error == pytest.approx(exact.error, rel=2e-3)
    assert abs(near.probe_overlap) < 1e-3


def test_quadrature_is_converged():
    default = pp.pruned_max_margin_theory(8.0, 1 / 16, "hard", math.radians(10))
    orig = pp._quadrature
    try:
        pp._quadrature = lambda f, k, a: orig(f, k, a, n_margin=240, n_orth=64)
        fine = pp.pruned_max_margin_theory(8.0, 1 / 16, "hard", math.radians(10))
    finally:
        pp._quadrature = orig
    assert default.error == pytest.approx(fine.error, rel=1e-3)


@pytest.mark.parametrize("alpha_prune, f, keep, degrees", [
    (4.0, 1.0, "hard", 0.0), (4.0, 0.25, "hard", 0.0), (2.0, 0.25, "easy", 0.0),
    (4.0, 0.25, "hard", 10.0), (3.0, 0.05, "hard", 0.0),
])
def test_theory_matches_the_simulated_perceptron(alpha_prune, f, keep, degrees):
    sims = [pc.pruned_student_error(200, alpha_prune, f, keep=keep,
                                    probe_angle=math.radians(degrees),
                                    rng=np.random.default_rng(seed)) for seed in range(8)]
    theory = pp.pruned_max_margin_theory(alpha_prune, f, keep, math.radians(degrees)).error
    stderr = np.std(sims, ddof=1) / np.sqrt(len(sims))
    # sampling noise plus a finite-size (N = 200) allowance of 8%
    assert abs(np.mean(sims) - theory) < 4 * stderr + 0.08 * theory


def test_keep_rule_crossover_and_frontier():
    cross = pp.keep_rule_crossover(0.5)
    assert 2.0 < cross < 16.0
    below = pp.pruned_max_margin_theory(0.5 * cross / 2, 0.5, "easy").error
    assert below < pp.pruned_max_margin_theory(0.5 * cross / 2, 0.5, "hard").error
    front = pp.pareto_frontier([1.0, 4.0], [1.0, 0.5, 0.25])
    assert front[0].keep == "easy"          # scarce data: keep the easy examples
    assert front[1].keep == "hard" and front[1].keep_fraction == 0.25
    full = pp.pruned_max_margin_theory(4.0).error
    assert front[1].error < 0.5 * full


def test_bad_input():
    with pytest.raises(ValueError):
        pp.pruned_max_margin_theory(0.0)
    with pytest.raises(ValueError):
        pp.pruned_max_margin_theory(1.0, 1.5)
    with pytest.raises(ValueError):
        pp.pruned_max_margin_theory(1.0, 0.5, "middle")
    with pytest.raises(ValueError):
        pp.pruned_max_margin_theory(1.0, 0.5, "hard", 2.0)


def test_imperfect_probe_has_an_interior_best_fraction():
    # Sorscher et al. 2022, App. A.7: with theta > 0, pruning harder than some f_min(theta)
    # stops helping. The error against f is unimodal, and every solve converges even at
    # tiny fractions where the student tilts towards the probe's plane.
    fractions = np.geomspace(1, 1e-3, 10)
    sols = [pp.pruned_max_margin_theory(16.0, f, "hard", math.radians(10)) for f in fractions]
    assert all(s.converged for s in sols)
    errors = np.array([s.error for s in sols])
    best = int(np.argmin(errors))
    assert 0 < best < len(fractions) - 1
    assert np.all(np.diff(errors[: best + 1]) < 0) and np.all(np.diff(errors[best:]) > 0)
    assert errors[-1] > 0.4 > errors[best] * 10


# Errors at alpha_prune = 16, theta = 10 degrees, keep hard, on np.geomspace(1, 1e-3, 10);
# the solver reproduces them to ~1e-8 relative (quadrature error aside, they are the
# replica solution to rounding).
_SWEEP_16 = [0.031064551041, 0.014507424950, 0.0077037257458, 0.0063900061566, 0.011867609708,
             0.29674624085, 0.42446161227, 0.44047871594, 0.44380022577, 0.44451512652]


def test_tiny_fractions_converge_and_are_insensitive_to_the_last_bits():
    # Perturbing the inputs by 1e-12 (relative) moves the solution by about as much: the
    # convergence test and the error must not hinge on rounding.
    fractions = np.geomspace(1, 1e-3, 10)
    theta = math.radians(10)
    for f, expected in zip(fractions, _SWEEP_16):
        base = pp.pruned_max_margin_theory(16.0, f, "hard", theta)
        nudged = pp.pruned_max_margin_theory(16.0 * (1 + 1e-12), f * (1 - 1e-12), "hard",
                                             theta * (1 + 1e-12))
        for sol in (base, nudged):
            assert sol.converged, sol.message
            assert sol.message.startswith("converged") and sol.residual <= 1e-8
        assert nudged.error == pytest.approx(base.error, rel=1e-9)
        assert nudged.probe_overlap == pytest.approx(base.probe_overlap, rel=1e-9, abs=1e-12)
        assert base.error == pytest.approx(expected, rel=1e-7)


def test_tiny_fraction_solutions_are_stationary():
    # The replica equations themselves, not just the solver's own test: F = 0 and
    # dF/dR = dF/drho = 0, with the student tilted far towards the probe's plane.
    for f in (0.01, 0.0022, 0.001):
        sol = pp.pruned_max_margin_theory(16.0, f, "hard", math.radians(10))
        assert sol.converged and sol.probe_overlap < -0.9
        q = pp._quadrature(f, "hard", math.radians(10))
        F, dR, drho, dk = pp._F_and_gradient(sol.overlap, sol.probe_overlap, sol.margin, 16.0, q)
        assert abs(F) < 1e-12 and abs(dR / dk) < 1e-9 and abs(drho / dk) < 1e-9


def test_non_convergence_is_reported(monkeypatch):
    monkeypatch.setattr(pp, "_MAX_ITER", 2)
    with pytest.warns(pp.ConvergenceWarning, match="not converged"):
        sol = pp.pruned_max_margin_theory(16.0, 0.001, "hard", math.radians(10))
    assert not sol.converged
    assert sol.message.startswith("not converged") and sol.residual > 1e-8
