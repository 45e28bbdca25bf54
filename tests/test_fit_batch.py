"""The steps-versus-batch fit: S(B) = S_min (1 + B_crit/B)."""
import numpy as np
import pytest

from scalinglab.fit import BatchTradeoff, FitDataError, fit_batch_tradeoff


def _curve(s_min=1000.0, b_crit=200.0, noise=0.01, seed=0):
    batch = np.array([16, 32, 64, 128, 256, 512, 1024.0])
    steps = s_min * (1 + b_crit / batch)
    steps *= np.exp(np.random.default_rng(seed).normal(0, noise, batch.size))
    return {"batch": batch, "steps": steps}


def test_recovers_s_min_e_min_and_b_crit_with_intervals():
    t = fit_batch_tradeoff(_curve(), columns={"x": "batch", "loss": "steps"}, bootstrap=100, verbose=False)
    assert isinstance(t, BatchTradeoff) and t.ok
    assert t.s_min == pytest.approx(1000, rel=0.03)
    assert t.b_crit == pytest.approx(200, rel=0.05)
    assert t.e_min == pytest.approx(t.s_min * t.b_crit)
    lo, hi = t.interval("b_crit")
    assert lo < t.b_crit < hi
    # (S/S_min - 1)(E/E_min - 1) = 1 on the fitted curve
    B = np.array([10.0, 100.0, 1000.0])
    S = t.steps(B)
    assert np.allclose((S / t.s_min - 1) * (B * S / t.e_min - 1), 1.0)


def test_overhead_definitions():
    t = fit_batch_tradeoff(_curve(noise=0.0), columns={"x": "batch", "loss": "steps"}, verbose=False)
    b20, _ = t.batch_at_overhead(0.2)            # examples 20% above E_min
    assert b20 == pytest.approx(0.2 * t.b_crit)
    assert t.batch_at_overhead(0.2)[0] * (t.steps(b20)) == pytest.approx(1.2 * t.e_min)
    bs, _ = t.batch_at_overhead(0.5, on="steps")
    assert t.steps(bs) == pytest.approx(1.5 * t.s_min)
    with pytest.raises(ValueError, match="overhead"):
        t.batch_at_overhead(0)
    with pytest.raises(ValueError, match="on="):
        t.batch_at_overhead(0.2, on="tokens")
    with pytest.raises(KeyError):
        t.interval("alpha")


def test_too_few_batch_sizes_is_a_clear_error():
    with pytest.raises(FitDataError, match="at least 3 points"):
        fit_batch_tradeoff({"x": [16, 32], "loss": [100, 60]}, verbose=False)
