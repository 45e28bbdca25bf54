"""Exact learning curves of the Zipf memoriser (Hutter 2021; Dohmatob et al. 2024).

The learner stores the label of every token it has seen in T i.i.d. training draws and
errs on the rest, so its expected test error is the test mass of unseen tokens:

    E(T) = sum_i p_i (1 - q_i)^T        p: test distribution, q: training distribution.

For Zipf sources (rank exponent ``s``, see :mod:`scalinglab.data.zipf`) the infinite sum
is evaluated exactly: ranks up to K explicitly, and the tail beyond K, where T q_i is
small, as a binomial series of Hurwitz zeta values,

    sum_{i >= K} i^-a (1 - c i^-b)^T = sum_j binom(T, j) (-c)^j zeta(a + b j, K),

so no vocabulary cut-off enters the "infinite vocabulary" curves.
Large-T asymptotics (integral approximation, derived here):

    E(T)        ~ Gamma(1 - 1/s) Z^(-1/s) / s * T^-(1 - 1/s)
    distinct(T) ~ Gamma(1 - 1/s) (T / Z)^(1/s)                 (expected distinct tokens)
    tail(k)     ~ k^-(s - 1) / ((s - 1) Z)                     (mass beyond rank k)
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from scalinglab.data.zipf import ZipfSource

# Ranks are summed explicitly until c * T * i^-b falls below this; the series does the rest.
_SERIES_SWITCH = 0.05
_SERIES_TERMS = 40


def _as_budgets(T) -> np.ndarray:
    T = np.atleast_1d(np.asarray(T, dtype=float))
    if np.any(~np.isfinite(T)) or np.any(T < 0):
        raise ValueError("sample sizes T must be finite and >= 0")
    return T


def _survival(q: np.ndarray, T: float) -> np.ndarray:
    """(1 - q)^T computed stably for small q."""
    with np.errstate(divide="ignore"):
        return np.exp(T * np.log1p(-np.minimum(q, 1.0)))


def _zeta_survival_series(a: float, b: float, c: float, T: float, K: int) -> float:
    """sum_{i >= K} i^-a (1 - c i^-b)^T for c T K^-b small (binomial series)."""
    total, binom = 0.0, 1.0
    for j in range(_SERIES_TERMS):
        if j > 0:
            binom *= (T - j + 1) / j
            if binom == 0.0:
                break
        term = binom * (-c) ** j * special.zeta(a + b * j, K)
        total += term
        if j > 0 and abs(term) <= 1e-17 * abs(total):
            break
    return float(total)


def zipf_survival_sum(test_exponent: float, train_exponent: float, train_coef: float,
                      T: float, start_rank: int = 1, test_normaliser: float | None = None) -> float:
    """sum_{i >= start_rank} p_i (1 - q_i)^T over all ranks, with p_i = i^-s / Z(s) and a
    Zipf-shaped training probability q_i = train_coef * i^-train_exponent on those ranks.

    This is the unseen test mass among ranks >= start_rank after T training draws."""
    if train_exponent <= 0 or train_coef <= 0:
        raise ValueError("train_exponent and train_coef must be > 0")
    if test_exponent <= 1:
        raise ValueError(f"test exponent {test_exponent} must be > 1 for an infinite vocabulary")
    Z = float(special.zeta(test_exponent, 1)) if test_normaliser is None else test_normaliser
    # Smallest K with train_coef * T * K^-b <= switch (and K >= start_rank).
    K = max(int(start_rank), int(math.ceil((train_coef * max(T, 1.0) / _SERIES_SWITCH)
                                           ** (1.0 / train_exponent))))
    explicit = 0.0
    if K > start_rank:
        ranks = np.arange(start_rank, K, dtype=float)
        q = train_coef * ranks ** -train_exponent
        explicit = float(np.sum(ranks ** -test_exponent * _survival(q, T)))
    tail = _zeta_survival_series(test_exponent, train_exponent, train_coef, T, K)
    return (explicit + tail) / Z


def expected_error_arrays(p: np.ndarray, q: np.ndarray, T, missing_mass: float = 0.0) -> np.ndarray:
    """E(T) = missing_mass + sum_i p_i (1 - q_i)^T for explicit arrays on a common support.

    ``missing_mass`` is the test mass of tokens the training distribution never emits."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("probabilities must be >= 0")
    return np.array([missing_mass + float(np.sum(p * _survival(q, t))) for t in _as_budgets(T)])


def expected_error(source: ZipfSource, T) -> np.ndarray:
    """Expected test error of the memoriser trained on T clean draws from ``source``."""
    T = _as_budgets(T)
    if source.vocab_size is not None:
        return expected_error_arrays(source.probs, source.probs, T)
    Z = source.normaliser
    return np.array([zipf_survival_sum(source.exponent, source.exponent, 1.0 / Z, t,
                                       test_normaliser=Z) for t in T])


def expected_distinct(source: ZipfSource, T) -> np.ndarray:
    """Expected number of distinct tokens among T draws, sum_i 1 - (1 - p_i)^T."""
    T = _as_budgets(T)
    if source.vocab_size is not None:
        p = source.probs
        return np.array([float(np.sum(-np.expm1(t * np.log1p(-p)))) for t in T])
    s, Z = source.exponent, source.normaliser
    out = []
    for t in T:
        K = max(1, int(math.ceil((t / Z / _SERIES_SWITCH) ** (1.0 / s))))
        ranks = np.arange(1, K, dtype=float)
        explicit = float(np.sum(-np.expm1(t * np.log1p(-(ranks ** -s) / Z))))
        # sum_{i>=K} 1 - (1 - p_i)^T = -sum_{j>=1} binom(T, j) (-1/Z)^j zeta(s j, K)
        series, binom = 0.0, 1.0
        for j in range(1, _SERIES_TERMS):
            binom *= (t - j + 1) / j
            if binom == 0.0:
                break
            term = -binom * (-1.0 / Z) ** j * special.zeta(s * j, K)
            series += term
            if abs(term) <= 1e-17 * abs(series):
                break
        out.append(explicit + series)
    return np.array(out)


# -- asymptotics ----------------------------------------------------------------------
def asymptotic_error(s: float, T) -> np.ndarray:
    """Gamma(1 - 1/s) Z^(-1/s) / s * T^-(1 - 1/s): the leading term of E(T)."""
    Z = float(special.zeta(s, 1))
    return math.gamma(1 - 1 / s) * Z ** (-1 / s) / s * np.asarray(T, dtype=float) ** -(1 - 1 / s)


def asymptotic_distinct(s: float, T) -> np.ndarray:
    """Gamma(1 - 1/s) (T / Z)^(1/s): the leading term of the expected distinct count."""
    Z = float(special.zeta(s, 1))
    return math.gamma(1 - 1 / s) * (np.asarray(T, dtype=float) / Z) ** (1 / s)


def asymptotic_tail_mass(s: float, k) -> np.ndarray:
    """k^-(s-1) / ((s - 1) Z): the leading term of the mass beyond rank k."""
    Z = float(special.zeta(s, 1))
    return np.asarray(k, dtype=float) ** -(s - 1) / ((s - 1) * Z)


# -- Monte Carlo -----------------------------------------------------------------------
def simulate_memoriser(source: ZipfSource, budgets, n_trials: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Test error of the memoriser along ``n_trials`` independent training streams.

    Returns an array (n_trials, len(budgets)): the exact unseen test mass after the first
    T tokens of each stream (no test sampling noise; only the training draws are random)."""
    from scalinglab.data.zipf import first_occurrence_curve
    budgets = np.asarray(budgets, dtype=np.int64)
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials} must be >= 1")
    t_max = int(budgets.max())
    out = np.empty((n_trials, budgets.size))
    for trial in range(n_trials):
        stream = source.sample(t_max, rng)
        out[trial] = first_occurrence_curve(stream, lambda toks: source.prob(toks + 1), budgets)
    return out
