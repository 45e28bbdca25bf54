"""A token source with a known entropy rate: a sparse Zipfian Markov chain.

The next token depends on the previous ``order`` tokens (the state). Each state has
``branching`` successor tokens, drawn at random without repetition; the successor of
rank j (j = 1..branching) is chosen with probability proportional to j^-zipf_exponent.
With probability ``teleport`` the next token is instead uniform over the vocabulary,
which makes the chain irreducible and aperiodic (a unique stationary distribution).

Every state's next-token distribution is the same list of probabilities in a different
order, so every step has the same conditional entropy: the entropy rate is exact,

    H = -sum_v p_v log p_v,   p = (1 - teleport) * zipf + teleport / vocab_size,

and it is the lowest loss any model can reach, in nats per token, once it sees the
previous ``order`` tokens. A fitted irreducible loss ``E`` can be checked against it.

Sequences are drawn as independent documents started from the stationary distribution,
so every window is a stationary stretch; at the first ``order - 1`` positions of a
window the model sees fewer than ``order`` tokens, and :meth:`optimal_loss` accounts for
that exactly (from the stationary n-gram marginals).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from scalinglab.data.corpus import CorpusError, TokenCorpus

MAX_STATES = 1 << 20


@dataclass(frozen=True)
class ZipfMarkovSource:
    vocab_size: int = 64
    order: int = 2
    branching: int = 8
    zipf_exponent: float = 1.0
    teleport: float = 0.05
    seed: int = 0

    def __post_init__(self):
        for name in ("vocab_size", "order", "branching"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ZipfMarkovSource.{name}={value!r} must be a positive integer")
        if self.vocab_size < 2:
            raise ValueError("ZipfMarkovSource.vocab_size must be at least 2")
        if self.branching > self.vocab_size:
            raise ValueError(f"ZipfMarkovSource.branching={self.branching} exceeds vocab_size={self.vocab_size}")
        if self.vocab_size ** self.order > MAX_STATES:
            raise ValueError(f"ZipfMarkovSource: vocab_size**order = {self.vocab_size ** self.order} states "
                             f"is more than {MAX_STATES}")
        if not 0.0 < self.teleport <= 1.0:
            raise ValueError(f"ZipfMarkovSource.teleport={self.teleport!r} must be in (0, 1]")
        if not self.zipf_exponent >= 0.0:
            raise ValueError(f"ZipfMarkovSource.zipf_exponent={self.zipf_exponent!r} must be >= 0")

    @property
    def n_states(self) -> int:
        return self.vocab_size ** self.order

    # -- the exact quantities ---------------------------------------------------------------
    def rank_probabilities(self) -> np.ndarray:
        """Zipf probabilities of the successors by rank, before teleporting."""
        weights = np.arange(1, self.branching + 1, dtype=np.float64) ** -self.zipf_exponent
        return weights / weights.sum()

    def next_token_probabilities(self) -> np.ndarray:
        """The multiset of next-token probabilities every state has (length vocab_size)."""
        p = np.full(self.vocab_size, self.teleport / self.vocab_size)
        p[: self.branching] += (1.0 - self.teleport) * self.rank_probabilities()
        return p

    @property
    def entropy_rate(self) -> float:
        """Nats per token: the loss floor given the previous ``order`` tokens."""
        p = self.next_token_probabilities()
        return float(-(p * np.log(p)).sum())

    def successors(self) -> np.ndarray:
        """(n_states, branching) successor tokens of each state, by rank."""
        return _successor_table(self.vocab_size, self.order, self.branching, self.seed)

    def stationary(self) -> np.ndarray:
        """Stationary distribution over states (power iteration; converges at rate
        1 - teleport per step)."""
        return _stationary(self)

    def ngram_entropies(self) -> list[float]:
        """H(X_1..X_j) for j = 1..order under the stationary distribution."""
        pi = self.stationary().reshape((self.vocab_size,) * self.order)
        out = []
        for j in range(1, self.order + 1):
            marginal = pi.sum(axis=tuple(range(j, self.order))) if j < self.order else pi
            m = marginal[marginal > 0]
            out.append(float(-(m * np.log(m)).sum()))
        return out

    def optimal_loss(self, context: int) -> float:
        """The lowest mean loss over a window of ``context`` predictions: position t
        (predicting token t+1 from tokens 0..t) costs H(X_{t+1} | X_0..X_t), which is
        the entropy rate once t + 1 >= order."""
        if context < 1:
            raise ValueError("context must be >= 1")
        h = self.entropy_rate
        if self.order == 1:
            return h
        joint = self.ngram_entropies()  # H_1 .. H_order
        losses = []
        for t in range(context):
            seen = t + 1
            if seen >= self.order:
                losses.append(h)
            else:
                losses.append(joint[seen] - joint[seen - 1])
        return float(np.mean(losses))

    # -- sampling -----------------------------------------------------------------------
    def sample(self, n_documents: int, length: int, seed: int) -> np.ndarray:
        """(n_documents, length) tokens: independent stationary documents, drawn in
        lockstep (one vectorised step per position)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, seed, 0x5EED]))
        succ = self.successors()
        pi = self.stationary()
        V, m = self.vocab_size, self.order
        state = rng.choice(self.n_states, size=n_documents, p=pi)
        # the first `order` tokens of each document are the digits of its state
        digits = [(state // V ** (m - 1 - i)) % V for i in range(m)]
        out = np.empty((n_documents, length), dtype=np.uint16 if V > 256 else np.uint8)
        for i in range(min(m, length)):
            out[:, i] = digits[i]
        cum = np.cumsum(self.rank_probabilities())
        base = V ** (m - 1)
        for t in range(m, length):
            ranks = np.minimum(np.searchsorted(cum, rng.random(n_documents), side="right"),
                               self.branching - 1)
            token = succ[state, ranks]
            jump = rng.random(n_documents) < self.teleport
            token = np.where(jump, rng.integers(0, V, size=n_documents), token)
            out[:, t] = token
            state = (state % base) * V + token
        return out

    def corpus(self, train_tokens: int, val_tokens: int, document_length: int = 4096) -> TokenCorpus:
        """A :class:`TokenCorpus` of independent documents (train and held-out drawn
        with different streams of the generator)."""
        if document_length <= self.order:
            raise CorpusError("document_length must exceed the order of the chain")
        arrays = []
        for split, n, stream in (("train", train_tokens, 1), ("val", val_tokens, 2)):
            n_docs = max(1, -(-int(n) // document_length))
            arrays.append(self.sample(n_docs, document_length, seed=stream).reshape(-1))
        spec = asdict(self)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return TokenCorpus(name=f"zipf-markov-{digest}", train=arrays[0], val=arrays[1],
                           vocab_size=self.vocab_size, bytes_per_token=None,
                           segment_length=document_length, entropy_rate=self.entropy_rate,
                           manifest={"source": "zipf-markov", **spec, "document_length": document_length,
                                     "entropy_rate": self.entropy_rate})


@lru_cache(maxsize=8)
def _successor_table(vocab_size: int, order: int, branching: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5ACC]))
    n_states = vocab_size ** order
    table = np.empty((n_states, branching), dtype=np.int64)
    chunk = max(1, (1 << 22) // vocab_size)
    for start in range(0, n_states, chunk):
        stop = min(n_states, start + chunk)
        keys = rng.random((stop - start, vocab_size), dtype=np.float32)
        # the `branching` smallest keys of a row: a uniform draw without replacement
        picked = np.argpartition(keys, branching - 1, axis=1)[:, :branching]
        order_in_row = np.argsort(np.take_along_axis(keys, picked, axis=1), axis=1)
        table[start:stop] = np.take_along_axis(picked, order_in_row, axis=1)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=8)
def _stationary(source: ZipfMarkovSource) -> np.ndarray:
    V, m, S = source.vocab_size, source.order, source.n_states
    succ = source.successors()
    flow = (1.0 - source.teleport) * source.rank_probabilities()
    base = V ** (m - 1)
    # the state reached from s by emitting token v is (s mod V^(m-1)) * V + v
    nxt = (np.arange(S)[:, None] % base) * V + succ
    pi = np.full(S, 1.0 / S)
    for _ in range(100_000):
        new = np.bincount(nxt.reshape(-1), weights=(pi[:, None] * flow[None, :]).reshape(-1), minlength=S)
        # teleport: the suffix of the state is kept, the new token is uniform
        suffix_mass = np.bincount(np.arange(S) % base, weights=pi, minlength=base)
        new += np.repeat(suffix_mass * source.teleport / V, V)
        new /= new.sum()
        if np.abs(new - pi).sum() < 1e-13:
            pi = new
            break
        pi = new
    pi.setflags(write=False)
    return pi


__all__ = ["ZipfMarkovSource"]
