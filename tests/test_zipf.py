"""Zipf sources, the exponent conventions, and the exact memoriser learning curves."""
import math

import numpy as np
import pytest
from scipy import special

from scalinglab.data.zipf import (
    ZipfSource, capacity_exponent, data_exponent, distinct_count_curve, first_occurrence_curve,
    paper_exponent, rank_exponent,
)
from scalinglab.theory import zipf_memory as zm


# -- conventions -----------------------------------------------------------------------
def test_conventions_agree_on_the_same_law():
    # alpha_Cabannes = beta_Dohmatob = 1 + alpha_Hutter
    assert rank_exponent(2.0, "cabannes") == rank_exponent(2.0, "dohmatob") == 2.0
    assert rank_exponent(1.0, "hutter") == rank_exponent(1.0, "michaud") == 2.0
    for conv in ("rank", "cabannes", "dohmatob", "hutter", "michaud"):
        assert paper_exponent(rank_exponent(0.7, conv), conv) == pytest.approx(0.7)


def test_data_exponent_matches_each_papers_formula():
    for a in (0.5, 1.0, 2.0):
        # Hutter 2021: beta = alpha / (1 + alpha) with p_i ~ i^-(1+alpha)
        assert data_exponent(rank_exponent(a, "hutter")) == pytest.approx(a / (1 + a))
    # Cabannes et al. 2023: 1 - 1/alpha; Dohmatob et al. 2024: 1 - 1/beta
    assert data_exponent(rank_exponent(2.0, "cabannes")) == pytest.approx(0.5)
    assert capacity_exponent(rank_exponent(2.0, "cabannes")) == pytest.approx(1.0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="convention"):
        rank_exponent(1.0, "zipf")
    with pytest.raises(ValueError, match="> 1"):
        ZipfSource(1.0)
    with pytest.raises(ValueError, match="vocab_size"):
        ZipfSource(1.5, vocab_size=0)
    with pytest.raises(ValueError, match="finite vocab_size"):
        ZipfSource(2.0).probs
    with pytest.raises(ValueError):
        ZipfSource(2.0, 10).prob([11])


# -- the source ------------------------------------------------------------------------
def test_finite_probs_are_a_normalised_power_law():
    src = ZipfSource(1.3, vocab_size=500)
    p = src.probs
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[1] == pytest.approx(2 ** 1.3)
    assert p[9] / p[99] == pytest.approx(10 ** 1.3)
    assert src.tail_mass(10) == pytest.approx(p[10:].sum())
    assert src.tail_mass(0) == pytest.approx(1.0)


def test_infinite_tail_mass_is_the_hurwitz_zeta_ratio():
    src = ZipfSource(2.0)
    assert src.normaliser == pytest.approx(math.pi ** 2 / 6)
    R = 2_000_000
    head = np.sum(np.arange(1, R + 1, dtype=float) ** -2.0) / src.normaliser
    # mass beyond rank 10 = mass of ranks 11..R + mass beyond R
    assert src.tail_mass(10) == pytest.approx(head - src.prob(np.arange(1, 11)).sum()
                                              + src.tail_mass(R), rel=1e-12)
    assert src.tail_mass(R) == pytest.approx(1 / (R + 0.5) / src.normaliser, rel=1e-6)


def test_sampling_matches_the_probabilities():
    rng = np.random.default_rng(0)
    src = ZipfSource(1.5, vocab_size=50)
    freq = np.bincount(src.sample(200_000, rng), minlength=50) / 200_000
    sigma = np.sqrt(src.probs * (1 - src.probs) / 200_000)
    assert np.all(np.abs(freq - src.probs) < 5 * sigma + 1e-12)
    inf = ZipfSource(2.0)
    tokens = inf.sample(200_000, rng)
    assert tokens.min() == 0
    assert np.mean(tokens == 0) == pytest.approx(inf.prob(1), abs=5 * np.sqrt(0.25 / 200_000))


def test_truncated_source_is_the_renormalised_head():
    src = ZipfSource(2.0)
    q = src.truncated(5)
    assert q.sum() == pytest.approx(1.0)
    assert q == pytest.approx(src.prob(np.arange(1, 6)) / (1 - src.tail_mass(5)))


def test_first_occurrence_curve_on_a_hand_example():
    p = np.array([0.5, 0.3, 0.2])
    stream = np.array([1, 1, 0, 1, 2])
    curve = first_occurrence_curve(stream, lambda t: p[t], [0, 1, 2, 3, 5])
    assert curve == pytest.approx([1.0, 0.7, 0.7, 0.2, 0.0])
    assert list(distinct_count_curve(stream, [0, 1, 2, 3, 5])) == [0, 1, 1, 2, 3]
    with pytest.raises(ValueError):
        distinct_count_curve(stream, [6])


# -- exact learning curves ---------------------------------------------------------------
def test_finite_expected_error_is_the_direct_sum():
    src = ZipfSource(1.7, vocab_size=300)
    T = np.array([0, 1, 7, 100, 5000])
    direct = [np.sum(src.probs * (1 - src.probs) ** t) for t in T]
    assert zm.expected_error(src, T) == pytest.approx(direct, rel=1e-12)
    assert zm.expected_error(src, [0])[0] == pytest.approx(1.0)


@pytest.mark.parametrize("s", [1.5, 2.0, 3.0])
def test_infinite_expected_error_matches_a_brute_force_sum(s):
    src = ZipfSource(s)
    R = 3_000_000
    ranks = np.arange(1, R + 1, dtype=float)
    p = ranks ** -s / src.normaliser
    for T in (1, 30, 1000, 20000):
        # beyond rank R, T p_i < 1e-5: (1 - p_i)^T = 1 - T p_i + ... ; keep two terms
        tail = src.tail_mass(R) - T * src.power_sum(2.0, R + 1)
        brute = np.sum(p * (1 - p) ** T) + tail
        assert zm.expected_error(src, [T])[0] == pytest.approx(brute, rel=1e-9)


@pytest.mark.parametrize("s", [1.5, 2.0, 3.0])
def test_learning_curve_slope_tends_to_minus_one_plus_one_over_s(s):
    src = ZipfSource(s)
    T = np.array([1e7, 1e8])
    e = zm.expected_error(src, T)
    slope = np.diff(np.log(e))[0] / np.diff(np.log(T))[0]
    assert slope == pytest.approx(-data_exponent(s), abs=2e-3)
    assert e[1] / zm.asymptotic_error(s, T[1]) == pytest.approx(1.0, abs=2e-3)


def test_expected_distinct_count():
    src = ZipfSource(3.0)
    assert zm.expected_distinct(src, [0, 1])[:2] == pytest.approx([0.0, 1.0])
    ranks = np.arange(1, 400_001, dtype=float)
    p = ranks ** -3.0 / src.normaliser
    for T in (10, 1000, 100_000):
        assert zm.expected_distinct(src, [T])[0] == pytest.approx(np.sum(1 - (1 - p) ** T), rel=1e-7)
    big = zm.expected_distinct(ZipfSource(2.0), [1e10])[0]
    assert big / zm.asymptotic_distinct(2.0, 1e10) == pytest.approx(1.0, abs=1e-3)


def test_asymptotic_tail_mass():
    for s in (1.5, 2.0, 3.0):
        k = 1e5
        assert ZipfSource(s).tail_mass(k) / zm.asymptotic_tail_mass(s, k) == pytest.approx(1.0, abs=1e-3)


def test_monte_carlo_memoriser_agrees_with_the_exact_expectation():
    rng = np.random.default_rng(1)
    src = ZipfSource(2.0)
    T = np.array([10, 100, 1000, 10000])
    sims = zm.simulate_memoriser(src, T, 300, rng)
    exact = zm.expected_error(src, T)
    stderr = sims.std(axis=0, ddof=1) / np.sqrt(sims.shape[0])
    assert np.all(np.abs(sims.mean(axis=0) - exact) < 5 * stderr)


def test_zeta_series_agrees_with_special_functions():
    # sum_{i>=1} i^-s (1 - c i^-s)^1 = zeta(s) - c zeta(2s)
    s, c = 2.5, 0.3
    val = zm.zipf_survival_sum(s, s, c, 1.0, test_normaliser=1.0)
    assert val == pytest.approx(special.zeta(s) - c * special.zeta(2 * s), rel=1e-12)
