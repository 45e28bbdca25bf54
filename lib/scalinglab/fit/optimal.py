"""Compute-optimal allocation: how to split a compute budget C between parameters N
and tokens D under a fitted loss law L(N, D).

With C = 6 N D and the Chinchilla form the answer is closed form (Hoffmann et al.
2022, Eq. 4):

    N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,
    G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta).

For any other law, or a supplied FLOPs function ``flops(N, D)``, the optimum is found
numerically along the iso-compute curve.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from scalinglab.fit.laws import Chinchilla, Law
from scalinglab.fit.result import FitResult


def exponent_a(params: Mapping[str, float]) -> float:
    """a in N_opt ∝ C^a for the Chinchilla form: beta / (alpha + beta)."""
    return params["beta"] / (params["alpha"] + params["beta"])


def exponent_b(params: Mapping[str, float]) -> float:
    """b in D_opt ∝ C^b for the Chinchilla form: alpha / (alpha + beta)."""
    return params["alpha"] / (params["alpha"] + params["beta"])


def chinchilla_frontier(params: Mapping[str, float], C: Any, flops_per_token: float = 6.0
                        ) -> dict[str, np.ndarray]:
    """Closed-form N_opt, D_opt, tokens per parameter and loss at compute C (C = k N D,
    k = ``flops_per_token``) for the Chinchilla parameters."""
    A, B, E = params["A"], params["B"], params["E"]
    alpha, beta = params["alpha"], params["beta"]
    C = np.asarray(C, dtype=float)
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    N = G * (C / flops_per_token) ** a
    D = (C / flops_per_token) ** b / G
    loss = E + A / N ** alpha + B / D ** beta
    return {"C": C, "N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": loss}


def _numeric_optimum(law: Law, params: Mapping[str, float], C: float,
                     flops: Callable[[float, float], float], n_range=(1e2, 1e16)) -> tuple[float, float, float]:
    """argmin over N of L(N, D(N)) with flops(N, D(N)) = C."""
    def tokens_for(logN: float) -> float:
        N = math.exp(logN)
        g = lambda logD: math.log(flops(N, math.exp(logD))) - math.log(C)
        lo, hi = -10.0, 80.0
        if g(lo) > 0 or g(hi) < 0:
            return float("nan")
        return math.exp(brentq(g, lo, hi, xtol=1e-12))

    def loss_at(logN: float) -> float:
        D = tokens_for(logN)
        if not np.isfinite(D):
            return float("inf")
        return float(law.predict(params, {"N": np.array([math.exp(logN)]), "D": np.array([D])})[0])

    grid = np.linspace(math.log(n_range[0]), math.log(n_range[1]), 200)
    vals = np.array([loss_at(g) for g in grid])
    i = int(np.nanargmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(loss_at, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    N = math.exp(res.x)
    D = tokens_for(res.x)
    return N, D, float(res.fun)


@dataclass
class Allocation:
    """Compute-optimal N, D, tokens per parameter and loss at each budget, with
    percentile bootstrap intervals (lists of (lo, hi), one per budget) when the fit had
    a bootstrap."""

    C: np.ndarray
    N_opt: np.ndarray
    D_opt: np.ndarray
    tokens_per_param: np.ndarray
    loss: np.ndarray
    intervals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    method: str = ""
    # the fit's free parameters whose intervals are bound-limited: an interval of the
    # allocation that reads one of them is set by a range, not by the data
    bound_limited: list[str] = field(default_factory=list)

    def interval(self, name: str, j: int = 0) -> tuple[float, float] | None:
        """The bootstrap interval of ``name`` (N_opt, D_opt, tokens_per_param, loss) at
        the j-th budget when it is a result: None without a bootstrap and where a
        parameter it reads is bound-limited (``bound_limited``). The irreducible loss E
        is additive in every law of N and D here, so it moves the optimal loss but not
        where the optimum is: N_opt, D_opt and tokens_per_param do not read it."""
        if name not in ("N_opt", "D_opt", "tokens_per_param", "loss"):
            raise KeyError(f"{name!r} is not one of N_opt, D_opt, tokens_per_param, loss")
        reads = set(self.bound_limited) - ({"E"} if name != "loss" else set())
        if not self.intervals or reads:
            return None
        return self.intervals[name][j]

    def frame(self):
        import pandas as pd
        df = pd.DataFrame({"C": self.C, "N_opt": self.N_opt, "D_opt": self.D_opt,
                           "tokens_per_param": self.tokens_per_param, "loss": self.loss})
        for name, ivs in self.intervals.items():
            df[f"{name}_lo"] = [iv[0] for iv in ivs]
            df[f"{name}_hi"] = [iv[1] for iv in ivs]
        return df

    def _repr_html_(self):
        return self.frame().to_html(float_format=lambda v: f"{v:.4g}", index=False)


def compute_optimal(fit: "FitResult | Mapping[str, float]", C: Any, *, law: Law | None = None,
                    flops: Callable[[float, float], float] | None = None,
                    flops_per_token: float = 6.0, level: float | None = None) -> Allocation:
    """Compute-optimal allocation at budget(s) C from a fit (intervals from its
    bootstrap samples) or a parameter dict (then pass ``law``, default Chinchilla).
    ``flops(N, D)`` replaces C = 6 N D (solved numerically)."""
    if isinstance(fit, FitResult):
        law, params = fit.law, fit.params
        samples = fit.bootstrap_params
        level = fit.level if level is None else level
    else:
        law, params, samples = law or Chinchilla(), dict(fit), []
        level = 0.95 if level is None else level
    if any(c not in law.inputs for c in ("N", "D")):
        raise ValueError(f"compute_optimal needs a law of N and D, got {law.name}")
    Cs = np.atleast_1d(np.asarray(C, dtype=float))
    if not np.all(np.isfinite(Cs) & (Cs > 0)):
        raise ValueError("compute budgets must be finite and positive")
    closed = flops is None and isinstance(law, Chinchilla)

    def solve(p):
        if closed:
            out = chinchilla_frontier(p, Cs, flops_per_token)
            return out["N_opt"], out["D_opt"], out["loss"]
        fl = flops or (lambda N, D: flops_per_token * N * D)
        rows = [_numeric_optimum(law, p, c, fl) for c in Cs]
        return tuple(np.array(col) for col in zip(*rows))

    N, D, L = solve(params)
    alloc = Allocation(C=Cs, N_opt=N, D_opt=D, tokens_per_param=D / N, loss=L,
                       method="closed form (Hoffmann Eq. 4)" if closed else "numeric along flops(N, D) = C")
    if isinstance(fit, FitResult):
        alloc.bound_limited = [n for n in fit.bound_limited if n in law.free]
    if samples:
        q = 100 * (1 - level) / 2
        boot = [solve(p) for p in samples]
        stacks = {"N_opt": np.array([b[0] for b in boot]), "D_opt": np.array([b[1] for b in boot]),
                  "loss": np.array([b[2] for b in boot])}
        stacks["tokens_per_param"] = stacks["D_opt"] / stacks["N_opt"]
        for name, arr in stacks.items():
            alloc.intervals[name] = [(float(np.nanpercentile(arr[:, j], q)), float(np.nanpercentile(arr[:, j], 100 - q)))
                                     for j in range(len(Cs))]
    return alloc
