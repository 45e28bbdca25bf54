"""The Zipf memoriser trained on synthetic data (Dohmatob et al. 2024, "A Tale of Tails").

A previous model that emits tokens from a Zipf source p (rank exponent ``s``) changes the
training distribution q of the next learner; the learner is then tested on clean p.
All expected errors below are exact (see :mod:`scalinglab.theory.zipf_memory`):

* tail cut:      q = p restricted to the top k ranks, renormalised. Tokens beyond k are
                 never seen, so E(T) -> sum_{i>k} p_i ~ k^-(s-1): the curve stalls once
                 T^-(1-1/s) reaches that floor, i.e. near T ~ k^s.
* tail narrowed: q ~ i^-s' with s' > s. A token of rank i is learned once T q_i ~ 1, so
                 E(T) ~ T^-(s-1)/s' (our integral estimate): a shallower exponent.
* mixture:       a fraction pi of clean draws next to tail-cut synthetic ones: a plateau
                 at the tail mass, then a second descent once pi T p_k ~ 1.
* generations:   generation g emits the empirical distribution of T0 draws from
                 generation g - 1 (generation 0 is p). Each resampling drops rare tokens
                 for good, so the support shrinks and the floor rises with g.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.data.zipf import ZipfSource
from scalinglab.theory.zipf_memory import (
    _as_budgets, _survival, expected_error, zipf_survival_sum,
)


def _check_infinite(source: ZipfSource) -> None:
    if source.vocab_size is not None:
        raise ValueError("the tail models use an infinite-vocabulary ZipfSource (vocab_size=None)")


def _check_rank(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer rank")
    return int(k)


def tail_cut_error(source: ZipfSource, T, k: int) -> np.ndarray:
    """E(T) when training data come from p cut after rank k (renormalised)."""
    _check_infinite(source)
    k = _check_rank(k)
    q = source.truncated(k)
    p = source.prob(np.arange(1, k + 1))
    floor = source.tail_mass(k)
    return np.array([floor + float(np.sum(p * _survival(q, t))) for t in _as_budgets(T)])


def narrowed_error(source: ZipfSource, T, train_exponent: float) -> np.ndarray:
    """E(T) when training data are Zipf with a different rank exponent s'."""
    _check_infinite(source)
    train = ZipfSource(train_exponent)
    return np.array([zipf_survival_sum(source.exponent, train_exponent, 1.0 / train.normaliser,
                                       t, test_normaliser=source.normaliser)
                     for t in _as_budgets(T)])


def mixture_error(source: ZipfSource, T, k: int, clean_fraction: float) -> np.ndarray:
    """E(T) when a fraction ``clean_fraction`` of the draws is clean (p) and the rest is
    tail-cut synthetic data (p cut after rank k)."""
    _check_infinite(source)
    k = _check_rank(k)
    if not 0.0 <= clean_fraction <= 1.0:
        raise ValueError(f"clean_fraction={clean_fraction} must lie in [0, 1]")
    if clean_fraction == 0.0:
        return tail_cut_error(source, T, k)
    if clean_fraction == 1.0:
        return expected_error(source, T)
    p_head = source.prob(np.arange(1, k + 1))
    q_head = clean_fraction * p_head + (1 - clean_fraction) * source.truncated(k)
    out = []
    for t in _as_budgets(T):
        head = float(np.sum(p_head * _survival(q_head, t)))
        # Beyond rank k only clean draws reach a token: q_i = clean_fraction * p_i.
        tail = zipf_survival_sum(source.exponent, source.exponent,
                                 clean_fraction / source.normaliser, t, start_rank=k + 1,
                                 test_normaliser=source.normaliser)
        out.append(head + tail)
    return np.array(out)


@dataclass(frozen=True)
class SyntheticGeneration:
    """The training distribution emitted by one generation: ranks (1-based) and their
    probabilities, on the tokens that survived every resampling so far."""

    generation: int
    ranks: np.ndarray
    probs: np.ndarray

    @property
    def support_size(self) -> int:
        return int(self.ranks.size)

    def error(self, source: ZipfSource, T) -> np.ndarray:
        """Expected clean test error of a memoriser trained on T draws of this generation."""
        p = source.prob(self.ranks)
        missing = 1.0 - float(np.sum(p))
        return np.array([missing + float(np.sum(p * _survival(self.probs, t)))
                         for t in _as_budgets(T)])


def synthetic_generations(source: ZipfSource, samples_per_generation: int,
                          n_generations: int, rng: np.random.Generator) -> list[SyntheticGeneration]:
    """Generations 1..n of resampled data (each: empirical distribution of T0 draws from
    the previous one; generation 1 draws from the clean source)."""
    _check_infinite(source)
    T0 = int(samples_per_generation)
    if T0 < 1 or n_generations < 1:
        raise ValueError("samples_per_generation and n_generations must be >= 1")
    ranks, counts = np.unique(source.sample(T0, rng) + 1, return_counts=True)
    out = [SyntheticGeneration(1, ranks, counts / T0)]
    for g in range(2, int(n_generations) + 1):
        counts = rng.multinomial(T0, out[-1].probs)
        keep = counts > 0
        out.append(SyntheticGeneration(g, out[-1].ranks[keep], counts[keep] / T0))
    return out


def crossing_budget(T: np.ndarray, error: np.ndarray, level: float) -> float:
    """The sample size at which a decreasing curve first reaches ``level``
    (log-log interpolation between grid points); NaN if it never does."""
    T, error = np.asarray(T, dtype=float), np.asarray(error, dtype=float)
    below = np.nonzero(error <= level)[0]
    if below.size == 0:
        return float("nan")
    j = int(below[0])
    if j == 0:
        return float(T[0])
    x0, x1 = np.log(T[j - 1]), np.log(T[j])
    y0, y1 = np.log(error[j - 1]), np.log(error[j])
    frac = (np.log(level) - y0) / (y1 - y0)
    return float(np.exp(x0 + frac * (x1 - x0)))
