"""The memoriser on synthetic (tail-cut, narrowed, mixed, resampled) training data."""
import numpy as np
import pytest

from scalinglab.data.zipf import ZipfSource
from scalinglab.theory import tails
from scalinglab.theory.zipf_memory import expected_error

SRC = ZipfSource(2.0)
T = np.logspace(0, 7, 15)


def test_tail_cut_curve_is_the_direct_sum_and_stalls_at_the_tail_mass():
    k = 40
    q = SRC.truncated(k)
    p = SRC.prob(np.arange(1, k + 1))
    for t in (1.0, 100.0, 1e4):
        direct = SRC.tail_mass(k) + np.sum(p * (1 - q) ** t)
        assert tails.tail_cut_error(SRC, [t], k)[0] == pytest.approx(direct, rel=1e-12)
    assert tails.tail_cut_error(SRC, [1e9], k)[0] == pytest.approx(SRC.tail_mass(k), rel=1e-9)
    # far before the knee the cut is invisible
    clean = expected_error(SRC, [10.0])[0]
    assert tails.tail_cut_error(SRC, [10.0], 10_000)[0] == pytest.approx(clean, rel=1e-3)


def test_knee_budget_scales_as_k_to_the_s():
    clean = expected_error(SRC, np.logspace(0, 9, 91))
    ks = np.array([10, 30, 100, 300, 1000])
    knees = [tails.crossing_budget(np.logspace(0, 9, 91), clean, SRC.tail_mass(k)) for k in ks]
    slope = np.polyfit(np.log(ks), np.log(knees), 1)[0]
    assert slope == pytest.approx(SRC.exponent, abs=0.05)


def test_narrowed_tail_changes_the_exponent_to_s_minus_one_over_s_prime():
    assert tails.narrowed_error(SRC, T, 2.0) == pytest.approx(expected_error(SRC, T), rel=1e-10)
    for s_prime in (2.5, 3.0, 4.0):
        e = tails.narrowed_error(SRC, [1e7, 1e8], s_prime)
        slope = np.log(e[1] / e[0]) / np.log(10)
        assert slope == pytest.approx(-(SRC.exponent - 1) / s_prime, abs=5e-3)


def test_mixture_interpolates_between_tail_cut_and_clean():
    k = 30
    assert tails.mixture_error(SRC, T, k, 0.0) == pytest.approx(tails.tail_cut_error(SRC, T, k))
    assert tails.mixture_error(SRC, T, k, 1.0) == pytest.approx(expected_error(SRC, T))
    mixed = tails.mixture_error(SRC, T, k, 0.05)
    # below the pure synthetic floor eventually: at large T only the clean draws (a
    # fraction pi of T) teach the tail, so the curve follows the clean one at pi T
    assert mixed[-1] < 0.1 * SRC.tail_mass(k)
    assert mixed[-1] == pytest.approx(expected_error(SRC, [0.05 * T[-1]])[0], rel=0.02)
    # brute force at one budget: head ranks mixed, tail ranks clean-only
    t, pi = 1e5, 0.05
    ranks = np.arange(1, 3_000_001, dtype=float)
    p = SRC.prob(ranks)
    q = pi * p
    q[:k] += (1 - pi) * SRC.truncated(k)
    brute = np.sum(p * (1 - q) ** t) + SRC.tail_mass(ranks.size)
    assert tails.mixture_error(SRC, [t], k, pi)[0] == pytest.approx(brute, rel=1e-6)


def test_generations_shrink_the_support_and_raise_the_floor():
    rng = np.random.default_rng(0)
    gens = tails.synthetic_generations(SRC, 5000, 6, rng)
    assert [g.generation for g in gens] == [1, 2, 3, 4, 5, 6]
    floors = []
    for prev, cur in zip(gens, gens[1:]):
        assert set(cur.ranks) <= set(prev.ranks)
    for g in gens:
        assert g.probs.sum() == pytest.approx(1.0)
        floors.append(g.error(SRC, [1e12])[0])
        assert floors[-1] == pytest.approx(1 - SRC.prob(g.ranks).sum(), rel=1e-9)
    assert np.all(np.diff(floors) >= 0)
    assert floors[-1] > floors[0]


def test_crossing_budget_interpolates_a_power_law():
    t = np.logspace(0, 6, 7)
    e = t ** -0.5
    assert tails.crossing_budget(t, e, 1e-2) == pytest.approx(1e4)
    assert tails.crossing_budget(t, e, 10 ** -1.25) == pytest.approx(10 ** 2.5)
    assert np.isnan(tails.crossing_budget(t, e, 1e-5))


def test_tail_models_reject_bad_input():
    with pytest.raises(ValueError):
        tails.tail_cut_error(ZipfSource(2.0, 100), T, 10)
    with pytest.raises(ValueError):
        tails.tail_cut_error(SRC, T, 0)
    with pytest.raises(ValueError):
        tails.mixture_error(SRC, T, 10, 1.5)
