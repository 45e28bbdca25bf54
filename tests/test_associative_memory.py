"""Outer-product associative memories: weights, scores, exact limits and scaling."""
import numpy as np
import pytest

from scalinglab.data.zipf import ZipfSource
from scalinglab.models import associative_memory as am
from scalinglab.theory.zipf_memory import expected_error


def test_weighting_schemes():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    counts = np.array([0, 5, 3, 2])
    assert am.memory_weights("fill", p, counts) == pytest.approx([0, 1, 1, 1])
    assert am.memory_weights("frequency", p, counts) == pytest.approx([0, 0.5, 0.3, 0.2])
    assert am.memory_weights("frequency", p, counts, rho=0.5) == pytest.approx(np.sqrt([0, .5, .3, .2]))
    assert am.memory_weights("threshold", p, counts, capacity=2) == pytest.approx([0, 1, 1, 0])
    # unseen tokens are never stored, whatever the capacity
    assert am.memory_weights("threshold", p, counts, capacity=10) == pytest.approx([0, 1, 1, 1])
    # infinite data: counts proportional to p
    assert am.memory_weights("threshold", p, None, capacity=3) == pytest.approx([1, 1, 1, 0])
    assert am.memory_weights("frequency", p, None) == pytest.approx(p)
    with pytest.raises(ValueError, match="scheme"):
        am.memory_weights("sum", p)
    with pytest.raises(ValueError, match="capacity"):
        am.memory_weights("threshold", p)


def test_scores_equal_the_explicit_memory_matrix():
    rng = np.random.default_rng(0)
    n, m, d = 40, 3, 16
    E, U = am.random_embeddings(n, d, rng), am.random_unembeddings(m, d, rng)
    labels = am.modular_labels(n, m)
    q = rng.random(n) * (rng.random(n) < 0.7)
    W = sum(q[x] * np.outer(E[x], U[labels[x]]) for x in range(n))
    assert am.memory_scores(E, U, labels, q) == pytest.approx(E @ W @ U.T, rel=1e-10, abs=1e-12)
    assert np.linalg.norm(U, axis=1) == pytest.approx(np.ones(m))


def test_orthogonal_embeddings_store_exactly_what_they_are_given():
    # e_x orthonormal: score(x, y) = q(x) u_f(x).u_y, so stored tokens are always right and
    # unstored ones score 0 everywhere (argmax picks label 0).
    rng = np.random.default_rng(1)
    n, m = 30, 4
    p = ZipfSource(2.0, n).probs
    labels = am.modular_labels(n, m)
    E = np.eye(n)
    U = am.random_unembeddings(m, n, rng)
    q = am.memory_weights("threshold", p, None, capacity=12)
    err = am.memory_error(E, U, labels, q, p)
    unstored_wrong = (q == 0) & (labels != 0)
    assert err == pytest.approx(p[unstored_wrong].sum(), rel=1e-12)


def test_a_huge_memory_is_the_zipf_memoriser():
    # With d >> n the interference vanishes: storing every seen token errs only on unseen
    # tokens whose chance label differs; on average over the stream this is the
    # memoriser's exact expectation times (1 - share of label 0 among unseen tokens).
    rng = np.random.default_rng(2)
    n, m = 60, 60  # one label per token: an unseen token is always wrong (unless token 0)
    src = ZipfSource(2.0, n)
    task = am.MemoryTask(src.probs, am.modular_labels(n, m), m)
    budgets = np.array([5, 20, 80])
    errs = am.memory_data_curve(task, budgets, 6000, scheme="fill", n_trials=60, rng=rng)
    exact_unseen = expected_error(src, budgets)
    # token 0 (rank 1) is never counted as an error when unseen; remove its share
    p0_unseen = src.probs[0] * (1 - src.probs[0]) ** budgets
    stderr = errs.std(axis=0, ddof=1) / np.sqrt(errs.shape[0])
    assert np.all(np.abs(errs.mean(axis=0) - (exact_unseen - p0_unseen)) < 5 * stderr + 1e-9)


def test_thresholded_memory_scales_as_d_to_the_minus_s_minus_one():
    # Cabannes et al. 2023: error ~ d^-(alpha - 1) for the thresholding scheme (alpha = 2)
    rng = np.random.default_rng(3)
    src = ZipfSource(2.0, 1000)
    task = am.MemoryTask(src.probs, am.modular_labels(1000, 5), 5)
    dims = np.array([32, 64, 128, 256, 512])
    errs = am.memory_error_curve(task, dims, scheme="threshold", n_trials=6, rng=rng,
                                 capacity_per_dim=1 / 8)
    slope = np.polyfit(np.log(dims), np.log(errs.mean(axis=0)), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)


def test_memory_curves_are_reproducible_from_the_seed():
    src = ZipfSource(2.0, 100)
    task = am.MemoryTask(src.probs, am.modular_labels(100, 5), 5)
    a = am.memory_error_curve(task, [16, 32], scheme="frequency", n_trials=2,
                              rng=np.random.default_rng(7))
    b = am.memory_error_curve(task, [16, 32], scheme="frequency", n_trials=2,
                              rng=np.random.default_rng(7))
    assert np.array_equal(a, b)
