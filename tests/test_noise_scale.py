"""The gradient noise scale (McCandlish et al. 2018, App. A.1): the two-batch estimator on
linear regression, where the true gradient and per-example covariance are known in closed
form, the torch measuring helper, and the large-batch run functions."""
import math

import numpy as np
import pytest

from scalinglab.train.noise_scale import (
    NoiseScale, gradient_norms, noise_scale, noise_scale_growth, noise_scale_run,
    running_noise_scale, steps_to_target_run, two_batch_estimates,
)

# Linear regression: x ~ N(0, I_d), y = w*.x + sigma*eps, loss 1/2 (w.x - y)^2. At w with
# v = w - w*, the per-example gradient is (x.v - sigma*eps) x, so G = v and
# Sigma = (|v|^2 + sigma^2) I + v v^T: tr(Sigma) = d (|v|^2 + sigma^2) + |v|^2.
D, SIGMA = 5, 1.0


def true_b_simple(v, sigma=SIGMA):
    v2 = float(v @ v)
    return (len(v) * (v2 + sigma ** 2) + v2) / v2


def regression_measurements(v, n_meas, b_small, b_big, seed=0):
    rng = np.random.default_rng(seed)
    k = b_big // b_small
    g2s, g2b = [], []
    for _ in range(n_meas):
        x = rng.standard_normal((b_big, len(v)))
        r = x @ v - SIGMA * rng.standard_normal(b_big)
        g = (r[:, None] * x).reshape(k, b_small, len(v)).mean(axis=1)  # per-chunk gradients
        g2s.append(float((g ** 2).sum(axis=1).mean()))
        g2b.append(float((g.mean(axis=0) ** 2).sum()))
    return np.array(g2s), np.array(g2b)


def test_two_batch_estimates_invert_the_expected_norms_exactly():
    g2, trace, bs, bb = 0.7, 42.0, 8, 256
    est_g2, est_tr = two_batch_estimates([g2 + trace / bs], [g2 + trace / bb], bs, bb)
    assert est_g2[0] == pytest.approx(g2) and est_tr[0] == pytest.approx(trace)


def test_estimate_matches_the_closed_form_within_its_interval():
    v = np.ones(D) / math.sqrt(D)  # |G|^2 = 1, B_simple = 11
    truth = true_b_simple(v)
    assert truth == pytest.approx(11.0)
    g2s, g2b = regression_measurements(v, 400, 4, 64)
    est = noise_scale(g2s, g2b, 4, 64, bootstrap=400, seed=1)
    assert isinstance(est, NoiseScale) and est.n == 400
    assert est.interval[0] < truth < est.interval[1]
    assert est.g2 == pytest.approx(1.0, rel=0.15)
    assert est.trace == pytest.approx(11.0, rel=0.1)
    assert "B_simple" in est.summary()


def test_a_larger_noise_scale_is_told_apart():
    # closer to the optimum: |G|^2 = 0.04, B_simple = 5 * 1.04 / 0.04 + 1 = 131
    v = 0.2 * np.ones(D) / math.sqrt(D)
    truth = true_b_simple(v)
    g2s, g2b = regression_measurements(v, 1000, 8, 512, seed=5)
    est = noise_scale(g2s, g2b, 8, 512, bootstrap=400)
    assert est.interval[0] < truth < est.interval[1]
    near = noise_scale(*regression_measurements(np.ones(D) / math.sqrt(D), 600, 8, 512, seed=3), 8, 512,
                       bootstrap=400)
    growth, iv = noise_scale_growth(est, near, bootstrap=400)
    assert growth == pytest.approx(est.value / near.value)
    assert iv[0] < truth / 11.0 < iv[1] and iv[0] > 1


def test_growth_of_a_set_against_itself_is_one():
    g2s, g2b = regression_measurements(np.ones(D) / math.sqrt(D), 50, 4, 64)
    est = noise_scale(g2s, g2b, 4, 64)
    value, iv = noise_scale_growth(est, est, bootstrap=200)
    assert value == pytest.approx(1.0) and iv[0] < 1 < iv[1]


def test_running_noise_scale_of_constant_norms_is_constant():
    out = running_noise_scale([0.7 + 42 / 8] * 5, [0.7 + 42 / 256] * 5, 8, 256, decay=0.9)
    np.testing.assert_allclose(out, 60.0)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError):
        two_batch_estimates([1.0], [0.5], 64, 64)
    with pytest.raises(ValueError):
        two_batch_estimates([1.0, 2.0], [0.5], 4, 64)


def test_gradient_norms_of_a_torch_model_match_the_closed_form():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(D, 1, bias=False)
    w_star = torch.zeros(D)
    v = torch.ones(D) / math.sqrt(D)
    with torch.no_grad():
        model.weight.copy_((w_star + v)[None, :])

    def loss_fn(out, y):
        return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()

    gen = torch.Generator().manual_seed(0)
    g2s, g2b = [], []
    for _ in range(300):
        x = torch.randn(64, D, generator=gen)
        y = x @ w_star + SIGMA * torch.randn(64, generator=gen)
        a, b = gradient_norms(model, loss_fn, x, y, b_small=4)
        g2s.append(a)
        g2b.append(b)
    est = noise_scale(g2s, g2b, 4, 64, bootstrap=400)
    assert est.interval[0] < true_b_simple(v.numpy()) < est.interval[1]

    # one batch by hand: the chunks' gradients, their mean squared norm and the norm of their mean
    x = torch.randn(8, D, generator=gen)
    y = torch.randn(8, generator=gen)
    r = (model(x).squeeze(-1) - y).detach()
    chunks = (r[:, None] * x).reshape(2, 4, D).mean(1)
    a, b = gradient_norms(model, loss_fn, x, y, b_small=4)
    assert a == pytest.approx(float(chunks.pow(2).sum(1).mean()), rel=1e-5)
    assert b == pytest.approx(float(chunks.mean(0).pow(2).sum()), rel=1e-5)
    with pytest.raises(ValueError):
        gradient_norms(model, loss_fn, x, y, b_small=8)


def test_run_functions_on_the_teacher_stream():
    pytest.importorskip("torch")
    small = {"width": 16, "n_eval": 256}
    easy = steps_to_target_run({**small, "batch": 64, "lr": 0.5, "target": 2.2, "max_steps": 200})
    assert easy["reached"] and 0 < easy["steps"] <= 200 and easy["examples"] == 64 * easy["steps"]
    assert easy["final_loss"] <= 2.2 and 0 < easy["bayes_loss"] < math.log(10)
    assert easy["curve"]["step"][0] == 0 and easy["curve"]["step"][-1] == easy["steps"]
    hard = steps_to_target_run({**small, "batch": 8, "lr": 0.01, "target": 0.5, "max_steps": 20})
    assert not hard["reached"] and hard["steps"] == 20
    run = noise_scale_run({**small, "batch": 16, "lr": 0.3, "steps": 30, "measure_points": 5,
                           "repeats": 2, "b_small": 8, "b_big": 64})
    curve = run["curve"]
    assert len(curve["step"]) == len(curve["g2_small"]) == 2 * len(set(curve["step"]))
    assert curve["step"][-1] == 30
    assert all(s > b > 0 for s, b in zip(curve["g2_small"], curve["g2_big"]))
    with pytest.raises(ValueError, match="unknown config"):
        steps_to_target_run({"batch_size": 8})
