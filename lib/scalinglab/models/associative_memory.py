"""Outer-product associative memories (Cabannes, Dohmatob & Bietti 2023).

Input tokens x in [n] carry a deterministic label f*(x) in [m]. Each token has a fixed
random embedding e_x in R^d (entries N(0, 1/d)) and each label a random unit vector u_y.
A memory of size d is one d x d matrix

    W = sum_x q(x) e_x u_{f*(x)}^T,        prediction  f(x) = argmax_y  e_x^T W u_y,

and its error is the test mass of the tokens it gets wrong, sum_x p(x) 1[f(x) != f*(x)].
Tokens share the d dimensions, so stored pairs interfere; which tokens get weight, and
how much, is the weighting scheme q:

* ``threshold``: q(x) = 1 for the ``capacity`` tokens seen most often, 0 otherwise;
* ``frequency``: q(x) = (count(x) / T)^rho (rho = 1 is q = p on infinite data);
* ``fill``:      q(x) = 1 for every token seen at least once.

Weights are built from token counts; ``counts=None`` stands for infinite data, where the
counts are proportional to p. Tokens never seen cannot be stored: their label is unknown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCHEMES = ("threshold", "frequency", "fill")


def modular_labels(n_tokens: int, n_classes: int) -> np.ndarray:
    """f*(x) = x mod m, the deterministic labelling used by the paper's code."""
    if n_tokens < 1 or n_classes < 1:
        raise ValueError("n_tokens and n_classes must be >= 1")
    return np.arange(n_tokens) % n_classes


def random_embeddings(n_tokens: int, dim: int, rng: np.random.Generator,
                      dtype=np.float64) -> np.ndarray:
    """n x d Gaussian embeddings with entries N(0, 1/d), so |e_x|^2 ~ 1. float32 halves
    the cost of large sweeps; ties between scores stay measure-zero events."""
    if n_tokens < 1 or dim < 1:
        raise ValueError("n_tokens and dim must be >= 1")
    e = rng.standard_normal((n_tokens, dim), dtype=dtype)
    e *= 1.0 / math.sqrt(dim)
    return e


def random_unembeddings(n_classes: int, dim: int, rng: np.random.Generator,
                        dtype=np.float64) -> np.ndarray:
    """m x d random unit vectors, one per label."""
    u = rng.standard_normal((n_classes, dim), dtype=dtype)
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def memory_weights(scheme: str, probs: np.ndarray, counts: np.ndarray | None = None, *,
                   capacity: int | None = None, rho: float = 1.0) -> np.ndarray:
    """The weight q(x) each token gets in the memory.

    ``probs`` is the token distribution (used when ``counts`` is None: infinite data);
    ``counts`` the number of times each token appeared in the training data."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r} is not one of {', '.join(SCHEMES)}")
    probs = np.asarray(probs, dtype=float)
    if counts is None:
        freq = probs
    else:
        counts = np.asarray(counts, dtype=float)
        if counts.shape != probs.shape or np.any(counts < 0):
            raise ValueError("counts must be non-negative and shaped like probs")
        total = counts.sum()
        freq = counts / total if total > 0 else np.zeros_like(counts)
    seen = freq > 0
    if scheme == "fill":
        return seen.astype(float)
    if scheme == "frequency":
        if rho <= 0:
            raise ValueError(f"rho={rho} must be > 0")
        return np.where(seen, freq, 0.0) ** rho
    if capacity is None or capacity < 0:
        raise ValueError("the threshold scheme needs capacity >= 0 (how many tokens to store)")
    q = np.zeros_like(freq)
    # Most frequent first; ties broken by token index so the choice is deterministic.
    order = np.lexsort((np.arange(freq.size), -freq))
    top = order[: int(capacity)]
    q[top[freq[top] > 0]] = 1.0
    return q


def memory_scores(embeddings: np.ndarray, unembeddings: np.ndarray, labels: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    """Scores e_x^T W u_y for every token x and label y (an n x m array).

    W is never formed: W U^T = E^T diag(q) U[f*] U^T costs O(n d m), not O(n d^2)."""
    stored = np.nonzero(weights)[0]
    label_gram = unembeddings[labels[stored]] @ unembeddings.T           # |S| x m
    weighted = (weights[stored, None] * label_gram).astype(embeddings.dtype, copy=False)
    readout = embeddings[stored].T @ weighted                              # d x m = W U^T
    return embeddings @ readout


def memory_error(embeddings: np.ndarray, unembeddings: np.ndarray, labels: np.ndarray,
                 weights: np.ndarray, probs: np.ndarray) -> float:
    """Test error sum_x p(x) 1[argmax_y score(x, y) != f*(x)]."""
    scores = memory_scores(embeddings, unembeddings, labels, weights)
    wrong = np.argmax(scores, axis=1) != labels
    return float(np.sum(probs[wrong]))


@dataclass(frozen=True)
class MemoryTask:
    """Tokens with probabilities ``probs`` and labels ``labels`` (m = ``n_classes``)."""

    probs: np.ndarray
    labels: np.ndarray
    n_classes: int

    @property
    def n_tokens(self) -> int:
        return int(self.probs.size)


def memory_error_curve(task: MemoryTask, dims, *, scheme: str, n_trials: int,
                       rng: np.random.Generator, counts: np.ndarray | None = None,
                       capacity_per_dim: float | None = None, rho: float = 1.0,
                       dtype=np.float64) -> np.ndarray:
    """Errors of fresh random memories, an array (n_trials, len(dims)).

    For the threshold scheme the memory stores ``capacity_per_dim * d`` tokens (the paper's
    code uses d/8 or d/12). ``counts`` are the training counts (None: infinite data)."""
    dims = [int(d) for d in np.atleast_1d(dims)]
    if scheme == "threshold" and (capacity_per_dim is None or capacity_per_dim <= 0):
        raise ValueError("the threshold scheme needs capacity_per_dim > 0")
    out = np.empty((n_trials, len(dims)))
    for j, d in enumerate(dims):
        capacity = int(capacity_per_dim * d) if scheme == "threshold" else None
        q = memory_weights(scheme, task.probs, counts, capacity=capacity, rho=rho)
        for trial in range(n_trials):
            E = random_embeddings(task.n_tokens, d, rng, dtype)
            U = random_unembeddings(task.n_classes, d, rng, dtype)
            out[trial, j] = memory_error(E, U, task.labels, q, task.probs)
    return out


def memory_data_curve(task: MemoryTask, budgets, dim: int, *, scheme: str, n_trials: int,
                      rng: np.random.Generator, capacity_per_dim: float | None = None,
                      rho: float = 1.0, dtype=np.float64) -> np.ndarray:
    """Errors after T training tokens, for each T in ``budgets`` (n_trials, len(budgets)).

    Each trial draws one memory (embeddings) and one data stream; the counts after the
    first T tokens of the stream give the weights, so the curve is a learning curve."""
    budgets = np.asarray(budgets, dtype=np.int64)
    if budgets.min() < 0:
        raise ValueError("budgets must be >= 0")
    capacity = int(capacity_per_dim * dim) if scheme == "threshold" else None
    if scheme == "threshold" and capacity is None:
        raise ValueError("the threshold scheme needs capacity_per_dim > 0")
    cdf = np.cumsum(task.probs)
    cdf[-1] = 1.0
    out = np.empty((n_trials, budgets.size))
    for trial in range(n_trials):
        E = random_embeddings(task.n_tokens, dim, rng, dtype)
        U = random_unembeddings(task.n_classes, dim, rng, dtype)
        stream = np.searchsorted(cdf, rng.random(int(budgets.max())), side="right")
        for j, T in enumerate(budgets):
            counts = np.bincount(stream[:T], minlength=task.n_tokens)
            q = memory_weights(scheme, task.probs, counts, capacity=capacity, rho=rho)
            out[trial, j] = memory_error(E, U, task.labels, q, task.probs)
    return out
