"""Zipf token sources, with one exponent convention for the whole suite.

Papers write the Zipf law three ways. scalinglab uses the *rank exponent* ``s`` only:

    p_i = i^(-s) / Z(s),   ranks i = 1, 2, ...,   s > 1 for an infinite vocabulary

(``Z`` is the Riemann zeta function, or the finite sum over ``vocab_size`` ranks).
Convert a paper's symbol once, at the top of a notebook, with :func:`rank_exponent`:

| paper                          | symbol | law written as        | rank exponent s | data exponent 1 - 1/s |
|--------------------------------|--------|-----------------------|-----------------|-----------------------|
| Cabannes et al. 2023           | alpha  | p(x) ~ x^(-alpha)     | s = alpha       | 1 - 1/alpha           |
| Dohmatob et al. 2024           | beta   | p_i ~ i^(-beta)       | s = beta        | 1 - 1/beta            |
| Hutter 2021, Michaud et al.    | alpha  | p_i ~ i^(-(1+alpha))  | s = 1 + alpha   | alpha / (1 + alpha)   |

So alpha_Cabannes = beta_Dohmatob = 1 + alpha_Hutter. Two exponents follow from ``s``:

* :func:`data_exponent` ``1 - 1/s``: a memoriser trained on T samples errs on the
  unseen mass, which falls as T^-(1 - 1/s) (Hutter 2021; Cabannes et al. 2023).
* :func:`capacity_exponent` ``s - 1``: the mass beyond the k most frequent tokens falls
  as k^-(s - 1) (a memory of size d that stores ~d tokens; a tail cut at rank k).

Tokens are numbered by rank from 0: token ``t`` has rank ``t + 1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

CONVENTIONS = ("rank", "cabannes", "dohmatob", "hutter", "michaud")
_SHIFT = {"rank": 0.0, "cabannes": 0.0, "dohmatob": 0.0, "hutter": 1.0, "michaud": 1.0}


def rank_exponent(value: float, convention: str) -> float:
    """A paper's Zipf symbol as the rank exponent ``s`` (``p_i ~ i^-s``).

    ``convention`` is "rank" (already s), "cabannes" (alpha), "dohmatob" (beta), or
    "hutter" / "michaud" (alpha in ``i^-(1+alpha)``)."""
    if convention not in _SHIFT:
        raise ValueError(f"convention={convention!r} is not one of {', '.join(CONVENTIONS)}")
    return float(value) + _SHIFT[convention]


def paper_exponent(s: float, convention: str) -> float:
    """The inverse of :func:`rank_exponent`: the symbol a paper would write for ``s``."""
    if convention not in _SHIFT:
        raise ValueError(f"convention={convention!r} is not one of {', '.join(CONVENTIONS)}")
    return float(s) - _SHIFT[convention]


def data_exponent(s: float) -> float:
    """Exponent c of the memoriser's learning curve E(T) ~ T^-c, c = 1 - 1/s."""
    _check_exponent(s, infinite=True)
    return 1.0 - 1.0 / s


def capacity_exponent(s: float) -> float:
    """Exponent of the tail mass beyond rank k, sum_{i>k} p_i ~ k^-(s-1)."""
    _check_exponent(s, infinite=True)
    return s - 1.0


def _check_exponent(s: float, infinite: bool) -> None:
    if not isinstance(s, (int, float, np.floating)) or not math.isfinite(s):
        raise ValueError(f"Zipf exponent s={s!r} must be a finite number")
    if infinite and s <= 1:
        raise ValueError(f"Zipf exponent s={s} must be > 1 for an infinite vocabulary")
    if s < 0:
        raise ValueError(f"Zipf exponent s={s} must be >= 0")


@dataclass(frozen=True)
class ZipfSource:
    """Tokens with p_i ~ i^-s over ranks 1..vocab_size (``vocab_size=None``: all ranks).

    ``probs`` needs a finite vocabulary; tail masses and sampling work for both."""

    exponent: float
    vocab_size: int | None = None
    _probs: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        _check_exponent(self.exponent, infinite=self.vocab_size is None)
        if self.vocab_size is not None:
            if isinstance(self.vocab_size, bool) or int(self.vocab_size) != self.vocab_size \
                    or self.vocab_size < 1:
                raise ValueError(f"vocab_size={self.vocab_size!r} must be a positive integer or None")
            object.__setattr__(self, "vocab_size", int(self.vocab_size))

    # -- probabilities ------------------------------------------------------------
    @property
    def normaliser(self) -> float:
        """sum_i i^-s over the vocabulary."""
        if self.vocab_size is None:
            return float(special.zeta(self.exponent, 1))
        return float(np.sum(np.arange(1, self.vocab_size + 1, dtype=float) ** -self.exponent))

    @property
    def probs(self) -> np.ndarray:
        """p as an array indexed by token (rank - 1); finite vocabularies only."""
        if self.vocab_size is None:
            raise ValueError("probs needs a finite vocab_size; use prob(ranks) for an infinite one")
        if self._probs is None:
            w = np.arange(1, self.vocab_size + 1, dtype=float) ** -self.exponent
            object.__setattr__(self, "_probs", w / w.sum())
        return self._probs

    def prob(self, ranks) -> np.ndarray:
        """p at the given ranks (1-based)."""
        ranks = np.asarray(ranks, dtype=float)
        if np.any(ranks < 1) or (self.vocab_size is not None and np.any(ranks > self.vocab_size)):
            raise ValueError("ranks must lie in 1..vocab_size")
        return ranks ** -self.exponent / self.normaliser

    def tail_mass(self, k) -> np.ndarray | float:
        """sum_{i > k} p_i, the mass beyond the k most frequent tokens (exact)."""
        k = np.asarray(k, dtype=float)
        if np.any(k < 0):
            raise ValueError("k must be >= 0")
        if self.vocab_size is None:
            out = special.zeta(self.exponent, k + 1) / self.normaliser
        else:
            k = np.minimum(k, self.vocab_size)
            cum = np.concatenate([[0.0], np.cumsum(self.probs)])
            out = np.clip(1.0 - cum[k.astype(int)], 0.0, 1.0)
        return float(out) if out.ndim == 0 else out

    def power_sum(self, power: float, start_rank: int = 1) -> float:
        """sum_{i >= start_rank} p_i^power (exact; used by the expected-error series)."""
        if self.vocab_size is None:
            return float(special.zeta(self.exponent * power, start_rank)
                         / self.normaliser ** power)
        return float(np.sum(self.probs[start_rank - 1:] ** power))

    # -- sampling -------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` i.i.d. tokens (0-based: token t has rank t + 1), as int64."""
        if int(n) != n or n < 0:
            raise ValueError(f"n={n!r} must be a non-negative integer")
        n = int(n)
        if self.vocab_size is None:
            # numpy's zipf sampler draws p_k = k^-s / zeta(s) on k >= 1 exactly.
            return rng.zipf(self.exponent, size=n).astype(np.int64) - 1
        cdf = np.cumsum(self.probs)
        cdf[-1] = 1.0
        return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)

    def counts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Token counts of ``n`` i.i.d. draws (finite vocabulary)."""
        return rng.multinomial(int(n), self.probs)

    def truncated(self, k: int) -> np.ndarray:
        """The source with its tail cut after rank k, renormalised (as a probs array of
        length k): what a generator that only ever emits the top-k tokens produces."""
        if int(k) != k or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer")
        if self.vocab_size is not None and k > self.vocab_size:
            raise ValueError(f"k={k} exceeds vocab_size={self.vocab_size}")
        w = np.arange(1, int(k) + 1, dtype=float) ** -self.exponent
        return w / w.sum()


def first_occurrence_curve(tokens: np.ndarray, probs_of, budgets) -> np.ndarray:
    """Unseen mass after the first T tokens of a stream, for each T in ``budgets``.

    ``probs_of(unique_tokens)`` returns the test probability of each token. One pass:
    the seen mass grows by p(t) at the first occurrence of each token t."""
    tokens = np.asarray(tokens)
    budgets = np.asarray(budgets, dtype=np.int64)
    if budgets.size and (budgets.min() < 0 or budgets.max() > tokens.size):
        raise ValueError(f"budgets must lie in 0..{tokens.size}")
    uniq, first = np.unique(tokens, return_index=True)
    order = np.argsort(first, kind="stable")
    first = first[order]
    seen_mass = np.concatenate([[0.0], np.cumsum(np.asarray(probs_of(uniq), dtype=float)[order])])
    n_seen = np.searchsorted(first, budgets, side="left")  # tokens first seen before T
    return np.clip(1.0 - seen_mass[n_seen], 0.0, 1.0)


def distinct_count_curve(tokens: np.ndarray, budgets) -> np.ndarray:
    """Number of distinct tokens among the first T tokens of a stream, for each T."""
    tokens = np.asarray(tokens)
    budgets = np.asarray(budgets, dtype=np.int64)
    if budgets.size and (budgets.min() < 0 or budgets.max() > tokens.size):
        raise ValueError(f"budgets must lie in 0..{tokens.size}")
    _, first = np.unique(tokens, return_index=True)
    return np.searchsorted(np.sort(first), budgets, side="left")
