"""Random features, exact readouts and losses, and the closed-form learning curves of the
linear random-feature teacher–student model."""
import math

import numpy as np
import pytest

from scalinglab.data.teacher_student import PowerLawLatent, power_law_spectrum
from scalinglab.models.random_features import (
    RandomFeatures, RidgePath, fit_readout, kernel_loss, linear_rf_loss, population_loss,
    projection_loss,
)
from scalinglab.theory import random_features as rft


def brute_force_rf_loss(lam, A, G):
    """Average over the S basis teachers omega = e_j / sqrt(S) (the exact isotropic
    average), explicit pseudo-inverse solve and residual."""
    S = lam.size
    Phi = G * np.sqrt(lam)
    W = np.eye(S) / math.sqrt(S)
    theta = np.linalg.pinv(Phi @ A.T) @ (Phi @ W)
    R = W - A.T @ theta
    return 0.5 * float(np.sum(lam[:, None] * R ** 2))


# -- random features -------------------------------------------------------------------
def test_feature_rows_nest_across_sizes():
    small, large = RandomFeatures(10, 4, seed=3), RandomFeatures(10, 9, seed=3)
    np.testing.assert_array_equal(small.weights, large.weights[:4])
    x = np.random.default_rng(0).standard_normal((5, 10))
    np.testing.assert_allclose(large(x)[:, :4], small(x))
    relu = RandomFeatures(10, 4, activation="relu", seed=3)
    assert np.all(relu(x) >= 0) and np.allclose(relu(x), np.maximum(small(x), 0))


def test_feature_errors():
    with pytest.raises(ValueError, match="activation"):
        RandomFeatures(3, 2, activation="gelu")
    with pytest.raises(ValueError, match="n_features"):
        RandomFeatures(3, 0)
    with pytest.raises(ValueError, match="shape"):
        RandomFeatures(3, 2).transform(np.zeros((4, 2)))


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_population_moments_match_monte_carlo(activation):
    lat = PowerLawLatent(dim=6, alpha=1.0)
    rf = RandomFeatures(6, 5, activation=activation, seed=1)
    rng = np.random.default_rng(2)
    w = lat.sample_teacher(rng)
    G, b, y2 = rf.population_moments(lat.eigenvalues, w)
    x = lat.sample_inputs(400_000, rng)
    phi, y = rf(x), x @ w
    scale = np.sqrt(np.outer(np.diag(G), np.diag(G)))
    np.testing.assert_allclose(phi.T @ phi / len(x) / scale, G / scale, atol=0.01)
    np.testing.assert_allclose(phi.T @ y / len(x), b, atol=0.01 * np.sqrt(y2 * np.diag(G).max()))
    assert np.mean(y ** 2) == pytest.approx(y2, rel=0.01)
    # the loss of any readout, exactly, equals its Monte Carlo estimate
    theta = rng.standard_normal(5) * 0.3
    mc = 0.5 * np.mean((y - phi @ theta) ** 2)
    assert population_loss(theta, G, b, y2) == pytest.approx(mc, rel=0.02)


def test_relu_second_moment_on_the_diagonal_is_half_the_variance():
    lam = power_law_spectrum(4, 1.0)
    rf = RandomFeatures(4, 3, activation="relu", seed=0)
    G, _, _ = rf.population_moments(lam, np.zeros(4))
    var = np.einsum("ij,j,ij->i", rf.weights, lam, rf.weights)
    np.testing.assert_allclose(np.diag(G), var / 2)
    assert population_loss(np.zeros(3), G, np.zeros(3), 2.0) == 1.0


# -- readouts ----------------------------------------------------------------------------
def test_ridge_path_matches_closed_forms():
    rng = np.random.default_rng(0)
    for n, p in [(30, 10), (10, 30)]:
        Z, y = rng.standard_normal((n, p)), rng.standard_normal(n)
        path = RidgePath(Z, y)
        np.testing.assert_allclose(path.theta(0.0), np.linalg.pinv(Z) @ y, atol=1e-10)
        ridge = 0.3
        direct = np.linalg.solve(Z.T @ Z + n * ridge * np.eye(p), Z.T @ y)
        np.testing.assert_allclose(path.theta(ridge), direct, atol=1e-10)
        np.testing.assert_allclose(fit_readout(Z, y), path.theta(0.0))
    with pytest.raises(ValueError, match="ridge"):
        path.theta(-1.0)
    with pytest.raises(ValueError, match="targets"):
        RidgePath(np.zeros((3, 2)), np.zeros(4))


# -- the linear random-feature teacher–student model -----------------------------------------
def test_projection_loss_closed_forms():
    lam = power_law_spectrum(20, 1.0)
    rng = np.random.default_rng(1)
    # one projection a: L = (Tr C - a^T C^2 a / a^T C a) / 2S
    a = rng.standard_normal((1, 20))
    expected = (lam.sum() - (a[0] ** 2 * lam ** 2).sum() / (a[0] ** 2 * lam).sum()) / 40
    assert projection_loss(lam, a) == pytest.approx(expected, rel=1e-12)
    # Eq. 1 by the normal equations
    A = rng.standard_normal((7, 20))
    C = np.diag(lam)
    eq1 = np.trace(C - C @ A.T @ np.linalg.solve(A @ C @ A.T, A @ C)) / 40
    assert projection_loss(lam, A) == pytest.approx(eq1, rel=1e-10)
    # as many projections as features: the student spans the teacher
    assert projection_loss(lam, rng.standard_normal((20, 20))) < 1e-15
    assert projection_loss(lam, rng.standard_normal((0, 20))) == pytest.approx(lam.sum() / 40)


def test_kernel_and_projection_losses_are_the_same_function():
    lam = power_law_spectrum(50, 0.7)
    M = np.random.default_rng(2).standard_normal((9, 50))
    assert kernel_loss(lam, M) == projection_loss(lam, M)


@pytest.mark.parametrize("P,D", [(6, 15), (15, 6), (8, 8)])
def test_linear_rf_loss_equals_brute_force(P, D):
    lam = power_law_spectrum(40, 1.0)
    rng = np.random.default_rng(P * 100 + D)
    A, G = rng.standard_normal((P, 40)), rng.standard_normal((D, 40))
    assert linear_rf_loss(lam, A, G) == pytest.approx(brute_force_rf_loss(lam, A, G), rel=1e-9)


def test_linear_rf_loss_limits():
    lam = power_law_spectrum(30, 1.0)
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 30))
    # plenty of data: the infinite-data loss of Eq. 1, approached as 1/D
    big = linear_rf_loss(lam, A, rng.standard_normal((20_000, 30)))
    assert big == pytest.approx(projection_loss(lam, A), rel=0.01)
    # more features than teacher features, plenty of data: exact recovery
    assert linear_rf_loss(lam, rng.standard_normal((40, 30)), rng.standard_normal((200, 30))) < 1e-12
    # a ridge only adds bias when the data already pin the solution
    G = rng.standard_normal((200, 30))
    assert linear_rf_loss(lam, A, G, ridge=1.0) > linear_rf_loss(lam, A, G)


def test_variance_limited_factor_is_exact_on_average():
    # E_data L(D, P) = L_inf(P) (D - 1)/(D - P - 1) for a fixed projection
    lam = power_law_spectrum(64, 1.0)
    rng = np.random.default_rng(4)
    A = rng.standard_normal((8, 64))
    D = 24
    draws = [linear_rf_loss(lam, A, rng.standard_normal((D, 64))) for _ in range(3000)]
    expected = projection_loss(lam, A) * rft.variance_factor(8, D)
    assert np.mean(draws) == pytest.approx(expected, rel=0.02)


def test_duality_in_distribution():
    # L(D, P) and L(P, D) have the same distribution: compare means over draws
    lam = power_law_spectrum(64, 1.0)
    rng = np.random.default_rng(5)
    lp = [linear_rf_loss(lam, rng.standard_normal((6, 64)), rng.standard_normal((20, 64))) for _ in range(1500)]
    ld = [linear_rf_loss(lam, rng.standard_normal((20, 64)), rng.standard_normal((6, 64))) for _ in range(1500)]
    assert np.mean(lp) == pytest.approx(np.mean(ld), rel=0.03)


def test_linear_rf_loss_errors():
    lam = power_law_spectrum(5, 1.0)
    with pytest.raises(ValueError, match="projection must have shape"):
        linear_rf_loss(lam, np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="data must have shape"):
        linear_rf_loss(lam, np.zeros((2, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="eigenvalues"):
        projection_loss([-1.0, 1.0], np.zeros((1, 2)))


# -- closed-form learning curves ---------------------------------------------------------------
def test_effective_ridge_solves_its_equation():
    lam = power_law_spectrum(1000, 1.0)
    for n, ridge in [(10, 0.0), (100, 0.0), (50, 1e-3)]:
        k = rft.effective_ridge(lam, n, ridge)
        assert np.sum(lam / (lam + k)) + n * ridge / k == pytest.approx(n, rel=1e-10)
    assert rft.effective_ridge(lam[:20], 20) == 0.0
    assert rft.effective_ridge(lam[:20], 25) == 0.0


def test_ridgeless_loss_matches_monte_carlo():
    lam = power_law_spectrum(1024, 1.0)
    rng = np.random.default_rng(6)
    for n in (32, 128):
        mc = np.mean([kernel_loss(lam, rng.standard_normal((n, 1024))) for _ in range(20)])
        assert mc == pytest.approx(rft.ridgeless_loss(lam, n), rel=0.04)


def test_learning_curve_reduces_to_the_ridgeless_formula():
    lam = power_law_spectrum(500, 1.5)
    for n in (5, 50, 200):
        assert rft.learning_curve(lam, n) == pytest.approx(rft.ridgeless_loss(lam, n), rel=1e-9)
    # a ridge hurts a noiseless isotropic teacher
    assert rft.learning_curve(lam, 50, ridge=1e-2) > rft.learning_curve(lam, 50)
    # a teacher living only in the top direction is learned faster than the isotropic one
    v = np.zeros(500)
    v[0] = lam[0] / 500
    assert rft.learning_curve(lam, 50, target_power=v) < 1e-3 * rft.learning_curve(lam, 50)


@pytest.mark.parametrize("alpha,S", [(0.5, 4_000_000), (1.0, 400_000), (2.0, 400_000)])
def test_power_law_asymptote(alpha, S):
    # S >> n so that the spectrum's end does not show (its tail mass is ~S^-alpha)
    lam = power_law_spectrum(S, alpha)
    for n in (200, 2000):
        assert rft.ridgeless_loss(lam, n) == pytest.approx(rft.power_law_asymptote(alpha, n, S), rel=0.03)
    # the exponent of the loss is alpha
    ratio = rft.ridgeless_loss(lam, 2000) / rft.ridgeless_loss(lam, 200)
    assert -math.log10(ratio) == pytest.approx(alpha, abs=0.02)
    assert rft.power_law_constant(1.0) == pytest.approx((math.pi / 2) ** 2)


def test_rf_learning_curve_is_symmetric_and_peaks_at_interpolation():
    lam = power_law_spectrum(256, 1.0)
    assert rft.linear_rf_learning_curve(lam, 16, 64) == rft.linear_rf_learning_curve(lam, 64, 16)
    assert rft.linear_rf_learning_curve(lam, 16, math.inf) == pytest.approx(rft.ridgeless_loss(lam, 16))
    assert math.isinf(rft.linear_rf_learning_curve(lam, 32, 32))
    assert rft.variance_factor(10, math.inf) == 1.0
    # variance-limited: the excess over L(P) falls as 1/D
    base = rft.ridgeless_loss(lam, 8)
    e1 = rft.linear_rf_learning_curve(lam, 8, 1000) - base
    e2 = rft.linear_rf_learning_curve(lam, 8, 10000) - base
    assert e1 / e2 == pytest.approx(10.0, rel=0.01)
    with pytest.raises(ValueError, match="n_features"):
        rft.linear_rf_learning_curve(lam, 0, 10)


# -- sweeps ------------------------------------------------------------------------------------
def test_multi_ridge_losses_equal_single_ridge_losses():
    from scalinglab.models.random_features import linear_rf_losses
    lam = power_law_spectrum(30, 1.0)
    rng = np.random.default_rng(7)
    for P, D in [(5, 12), (12, 5)]:
        A, G = rng.standard_normal((P, 30)), rng.standard_normal((D, 30))
        ridges = [0.0, 1e-4, 1e-2]
        many = linear_rf_losses(lam, A, G, ridges)
        np.testing.assert_allclose(many, [linear_rf_loss(lam, A, G, r) for r in ridges], rtol=1e-12)
        assert many[0] == pytest.approx(brute_force_rf_loss(lam, A, G), rel=1e-9)


def test_sweep_points_do_not_depend_on_the_grid_around_them():
    from scalinglab.models.random_features import linear_rf_sweep
    lam = power_law_spectrum(40, 1.0)
    alone = linear_rf_sweep(lam, [(4, 16)], draws=2, seed=1)
    among = linear_rf_sweep(lam, [(8, 8), (4, 16), (math.inf, 16)], draws=2, seed=1)
    assert [r for r in among if (r["P"], r["D"]) == (4, 16)] == alone
    for rec in alone:
        assert rec["loss"] >= rec["limit"] > 0  # the finite-data loss sits above its D = inf limit
    inf_rows = [r for r in among if math.isinf(r["P"])]
    assert all(r["loss"] == r["limit"] for r in inf_rows)
    with pytest.raises(ValueError, match="P="):
        linear_rf_sweep(lam, [(0, 4)])


def test_random_feature_grid_nests_and_learns():
    from scalinglab.models.random_features import random_feature_grid
    lam = power_law_spectrum(16, 1.0)
    small = random_feature_grid(lam, "relu", [4, 8], [32], seed=3)
    big = random_feature_grid(lam, "relu", [4, 8, 16], [32, 64], seed=3)
    lookup = {(r["N"], r["T"]): r for r in big}
    for r in small:
        assert lookup[(r["N"], r["T"])] == r
    # linear features with N >= M and T >= M recover the linear teacher exactly
    lin = random_feature_grid(lam, "linear", [8, 24], [64], seed=3)
    assert lin[1]["relative"] < 1e-12 < lin[0]["relative"] < 1
    # more data helps a fixed ReLU model
    relu = random_feature_grid(lam, "relu", [12], [16, 256], seed=4)
    assert relu[1]["loss"] < relu[0]["loss"]


def test_feature_eigenbasis_whitens_and_matches_gaussian_losses():
    from scalinglab.models.random_features import FeatureEigenbasis
    rng = np.random.default_rng(8)
    lam = power_law_spectrum(12, 1.0)
    rot, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    F = (rng.standard_normal((50_000, 12)) * np.sqrt(lam)) @ rot.T   # rotated Gaussian features
    basis = FeatureEigenbasis.from_samples(F)
    np.testing.assert_allclose(basis.eigenvalues, lam, rtol=0.05)
    g = basis.whiten(F)
    np.testing.assert_allclose(g.T @ g / len(g), np.eye(12), atol=1e-10)
    # the kernel loss of a real sample equals its Gaussian-model value on average
    real = np.mean([kernel_loss(basis.eigenvalues, basis.whiten(F[i * 6:(i + 1) * 6])) for i in range(400)])
    gauss = np.mean([kernel_loss(lam, rng.standard_normal((6, 12))) for _ in range(400)])
    assert real == pytest.approx(gauss, rel=0.05)
    with pytest.raises(ValueError, match="shape"):
        basis.whiten(np.zeros((3, 5)))
