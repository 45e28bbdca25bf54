"""Teacher-student perceptron, the exact max-margin solver, and margin pruning."""
import numpy as np
import pytest
from scipy.optimize import minimize

from scalinglab.models import perceptron as pc


def test_max_margin_on_a_hand_example():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-2.0, -1.0]])
    y = np.array([1.0, 1.0, -1.0])
    res = pc.max_margin(X, y)
    assert res.w == pytest.approx(np.array([1.0, 1.0]) / np.sqrt(2))
    assert res.margin == pytest.approx(1 / np.sqrt(2))
    assert set(res.support) == {0, 1}


def test_max_margin_satisfies_the_kkt_conditions_and_matches_a_qp_solver():
    rng = np.random.default_rng(0)
    X, y, _ = pc.teacher_student_data(20, 80, rng)
    res = pc.max_margin(X, y)
    Z = X * y[:, None]
    margins = Z @ res.w
    assert np.linalg.norm(res.w) == pytest.approx(1.0)
    assert margins.min() == pytest.approx(res.margin)
    # every support vector sits exactly on the margin
    assert margins[res.support] == pytest.approx(np.full(res.support.size, res.margin), rel=1e-8)
    # the primal QP: min |w|^2 / 2 subject to y_i w.x_i >= 1 gives margin 1/|w|
    qp = minimize(lambda w: 0.5 * w @ w, 3 * res.w / res.margin, jac=lambda w: w,
                  constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1, "jac": lambda w: Z}],
                  method="SLSQP", options={"maxiter": 1000, "ftol": 1e-12})
    assert qp.success
    assert 1 / np.linalg.norm(qp.x) == pytest.approx(res.margin, rel=1e-6)
    assert qp.x / np.linalg.norm(qp.x) == pytest.approx(res.w, abs=1e-5)


def test_non_separable_data_are_refused():
    with pytest.raises(ValueError, match="separable"):
        pc.max_margin(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="labels"):
        pc.max_margin(np.ones((2, 2)), np.array([1.0, 0.0]))


def test_generalisation_error_is_the_angle_over_pi():
    t = np.array([1.0, 0.0, 0.0])
    assert pc.generalisation_error(t, t) == pytest.approx(0.0)
    assert pc.generalisation_error(np.array([0.0, 2.0, 0.0]), t) == pytest.approx(0.5)
    assert pc.generalisation_error(-t, t) == pytest.approx(1.0)
    # Monte Carlo: disagreement rate on Gaussian inputs
    rng = np.random.default_rng(1)
    s = pc.probe_at_angle(np.array([1.0, 2.0, 0.5, -1.0]), 0.6, rng)
    x = rng.standard_normal((200_000, 4))
    rate = np.mean(np.sign(x @ s) != np.sign(x @ np.array([1.0, 2.0, 0.5, -1.0])))
    assert rate == pytest.approx(0.6 / np.pi, abs=0.005)


def test_probe_angle():
    rng = np.random.default_rng(2)
    t = rng.standard_normal(50)
    for theta in (0.0, 0.2, 1.0):
        probe = pc.probe_at_angle(t, theta, rng)
        assert np.linalg.norm(probe) == pytest.approx(1.0)
        assert np.arccos(np.clip(probe @ t / np.linalg.norm(t), -1, 1)) == pytest.approx(theta, abs=1e-7)


def test_pruning_keeps_the_smallest_or_largest_margins():
    rng = np.random.default_rng(3)
    X, _, t = pc.teacher_student_data(10, 200, rng)
    margin = np.abs(X @ t) / np.linalg.norm(t)
    hard = pc.prune_by_margin(X, t, 0.25, "hard")
    easy = pc.prune_by_margin(X, t, 0.25, "easy")
    assert hard.size == easy.size == 50
    rest = np.setdiff1d(np.arange(200), hard)
    assert margin[hard].max() <= margin[rest].min()
    rest = np.setdiff1d(np.arange(200), easy)
    assert margin[easy].min() >= margin[rest].max()
    with pytest.raises(ValueError):
        pc.prune_by_margin(X, t, 0.0)


def test_keep_easy_wins_with_little_data_and_keep_hard_with_much():
    # Sorscher et al. 2022: with scarce data keep easy examples, with abundant data hard ones
    def mean_error(alpha_tot, f, keep):
        return np.mean([pc.pruned_student_error(50, alpha_tot * f, f, keep=keep,
                                                rng=np.random.default_rng(s)) for s in range(6)])
    assert mean_error(2, 0.5, "easy") < mean_error(2, 0.5, "hard")
    assert mean_error(16, 0.25, "hard") < mean_error(16, 0.25, "easy")
    # at fixed alpha_prune, a larger pool pruned harder beats the unpruned data
    assert mean_error(16, 0.25, "hard") < mean_error(4, 1.0, "hard")


def test_pruning_run_is_a_sweep_function():
    config = dict(n_dim=30, alpha_prune=2.0, keep_fraction=0.5, keep="hard", probe_angle_deg=0.0, seed=5)
    record = pc.pruning_run(config)
    expected = pc.pruned_student_error(30, 2.0, 0.5, keep="hard", rng=np.random.default_rng(5))
    assert record == {"metrics": {"error": pytest.approx(expected)}}
    # same seed and pool size: keep-easy prunes the same pool, so the runs differ only by the rule
    easy = pc.pruning_run({**config, "keep": "easy"})["metrics"]["error"]
    assert easy != record["metrics"]["error"]
    assert pc.pruning_run(config) == record
