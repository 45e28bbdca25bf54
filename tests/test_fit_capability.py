"""Capability PCA, sigmoid links and held-out errors."""
import numpy as np
import pytest

from scalinglab.fit import FitDataError
from scalinglab.fit.capability import capability_pca, fit_sigmoid, prediction_errors


def _table(n=40, p=6, seed=0):
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=n)
    loadings = rng.uniform(0.5, 1.5, size=p)
    return ability, np.outer(ability, loadings) + 0.05 * rng.normal(size=(n, p))


def test_one_factor_table_has_one_dominant_component_aligned_with_ability():
    ability, X = _table()
    pca = capability_pca(X, n_components=3)
    assert pca.explained_variance_ratio[0] > 0.95
    assert np.corrcoef(pca.scores[:, 0], ability)[0, 1] > 0.99     # sign fixed: higher = more able
    # transform of the fitting table gives its own scores; of new rows, their scores
    assert np.allclose(pca.transform(X), pca.scores)
    assert "PC1" in pca.summary()


def test_pca_refuses_missing_scores_and_flat_benchmarks():
    _, X = _table()
    X[3, 2] = np.nan
    with pytest.raises(FitDataError, match="missing"):
        capability_pca(X)
    _, X = _table()
    X[:, 1] = 0.5
    with pytest.raises(FitDataError, match="same score"):
        capability_pca(X)


def test_sigmoid_recovers_a_known_link_rising_and_falling():
    x = np.linspace(-3, 3, 30)
    y = 0.25 + 0.7 * 0.5 * (1 + np.tanh(0.5 * 2.0 * (x - 0.5)))
    fit = fit_sigmoid(x, y, floor=0.25, verbose=False)
    assert fit.ok
    assert fit.params["k"] == pytest.approx(2.0, rel=1e-4)
    assert fit.params["x0"] == pytest.approx(0.5, abs=1e-4)
    assert fit.params["ceiling"] == pytest.approx(0.95, rel=1e-4)
    falling = fit_sigmoid(x, y[::-1], verbose=False, bootstrap=20)
    assert falling.params["k"] < 0 and falling.rss < 1e-8
    lo, hi = falling.prediction_interval([0.0])
    assert lo[0] <= falling.predict(0.0) <= hi[0]


def test_sigmoid_too_few_points_and_prediction_errors():
    with pytest.raises(FitDataError, match="at least"):
        fit_sigmoid([1, 2, 3], [0.1, 0.2, 0.3], verbose=False)
    e = prediction_errors([0.5, 0.4], [0.55, 0.3])
    assert e["mae"] == pytest.approx(0.075) and e["max_rel"] == pytest.approx(0.25)
    with pytest.raises(FitDataError):
        prediction_errors([], [])
