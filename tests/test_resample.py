import numpy as np
import pytest

from scalinglab.fit.resample import bootstrap_interval


def test_interval_covers_the_mean_and_pairs_rows():
    rng = np.random.default_rng(1)
    a = rng.normal(2.0, 0.1, size=40)
    lo, hi = bootstrap_interval(np.mean, a, n_boot=500, seed=0)
    assert lo < a.mean() < hi and hi - lo < 0.2
    # paired rows: the ratio of a sample to itself is exactly 1 in every resample
    assert bootstrap_interval(lambda x, y: x.mean() / y.mean(), a, a, n_boot=50) == (1.0, 1.0)
    assert bootstrap_interval(np.mean, a, n_boot=50, seed=3) == bootstrap_interval(np.mean, a, n_boot=50, seed=3)


def test_resamples_without_a_value_are_dropped_or_give_none():
    a = np.arange(10.0)
    iv = bootstrap_interval(lambda x: np.nan if x.max() < 5 else x.mean(), a, n_boot=200)
    assert iv is not None
    assert bootstrap_interval(lambda x: np.nan, a, n_boot=20) is None


@pytest.mark.parametrize("kwargs, match", [({"level": 1.5}, "level"), ({"n_boot": 1}, "n_boot")])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_interval(np.mean, np.arange(5.0), **kwargs)
    with pytest.raises(ValueError, match="same number of rows"):
        bootstrap_interval(np.mean, np.arange(5.0), np.arange(4.0))
