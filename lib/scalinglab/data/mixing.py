"""Ye et al. 2024 (Data Mixing Laws): the released loss logs and the mixing-law fit.

The repository ``yegcjs/mixinglaws`` releases, per model size, a text file with one
evaluation per line, three tab-separated fields: the checkpoint path (its last two parts
are ``<size>_<tag>_<run id>-<p1>-...-<pM>`` and the training step), the validation file
(``.../pythia-pile.valid.<Domain>.bin``) and the loss. :func:`parse_losses` turns such
text into a long table; :func:`mixture_table` averages repeated evaluations and pivots to
one row per (run, step) with one column per validation domain.

The law (Ye et al. 2024, Eq. 1; facts_theory §16): for a validation domain i and mixture
proportions r, ``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)``. The library's Law classes
take positive scalar inputs, not a proportion vector, so :func:`fit_mixture_law` fits it
here with scipy least squares from several starts (parametrised as c, log k, t).
:func:`fit_step_law` is the authors' step/size law ``L(x) = c + (k/x)^alpha`` with one
alpha shared by several curves (``pipeline/run.sh``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

_RUN = re.compile(r"^(?P<size>[0-9.]+[MB])_(?P<tag>.*?)_?(?P<id>\d+)-(?P<props>[0-9.]+(?:-[0-9.]+)+)$")
_DOMAIN = re.compile(r"pythia-pile\.valid\.(?P<d>[A-Za-z0-9_\-]+)\.bin$")


def parse_run(name: str) -> tuple[str, int, tuple[float, ...]]:
    """``70M_RP_3-0.0625-0.125`` -> ("70M", 3, (0.0625, 0.125))."""
    m = _RUN.match(name)
    if not m:
        raise ValueError(f"not a run name: {name!r}")
    props = tuple(float(p) for p in m["props"].split("-"))
    return m["size"], int(m["id"]), props


def parse_losses(text: str) -> pd.DataFrame:
    """Long table (size, run, step, domain, loss, r0..r{M-1}) from a released loss file.
    Lines whose step is not a number (``last``) are dropped."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        ckpt, valid, loss = line.split("\t")
        parts = [p for p in ckpt.split("/") if p]
        if not parts[-1].isdigit():
            continue
        size, run, props = parse_run(parts[-2])
        d = _DOMAIN.search(valid)
        if not d:
            raise ValueError(f"not a validation file: {valid!r}")
        row = {"size": size, "run": run, "step": int(parts[-1]), "domain": d["d"], "loss": float(loss)}
        row.update({f"r{j}": p for j, p in enumerate(props)})
        rows.append(row)
    return pd.DataFrame(rows)


def mixture_table(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (size, run, step): proportions r0.. and one loss column per domain
    (repeated evaluations averaged; a domain not evaluated is NaN)."""
    rcols = [c for c in long.columns if re.fullmatch(r"r\d+", c)]
    keys = ["size", "run", "step"] + rcols
    return long.pivot_table(index=keys, columns="domain", values="loss", aggfunc="mean").reset_index()


def proportions_of(table: pd.DataFrame) -> np.ndarray:
    rcols = sorted((c for c in table.columns if re.fullmatch(r"r\d+", str(c))), key=lambda c: int(c[1:]))
    return table[rcols].to_numpy(float)


def mixture_law(r: np.ndarray, c: float, k: float, t: np.ndarray) -> np.ndarray:
    """L(r) = c + k exp(r . t) for rows r of proportions."""
    return c + k * np.exp(np.asarray(r, float) @ np.asarray(t, float))


@dataclass
class MixtureFit:
    c: float
    k: float
    t: np.ndarray
    rmse: float
    converged: bool
    starts: int
    message: str = ""
    bound_limited: bool = False   # c ended at its upper bound, min(loss)
    t_names: Sequence[str] = field(default_factory=tuple)

    def predict(self, r: np.ndarray) -> np.ndarray:
        return mixture_law(r, self.c, self.k, self.t)


def fit_mixture_law(r: np.ndarray, loss: np.ndarray, *, starts: int = 8, seed: int = 0,
                    verbose: bool = False) -> MixtureFit:
    """Least squares fit of c + k exp(r . t) from several starts (c below min(loss),
    log k and t drawn at random); the best start is kept. Parameters: c in [0, min(loss)),
    log k free, t free. When every row of r sums to 1 (all proportions given), k is not
    identifiable (k exp(r.t) = exp(r.(t + log k))): k is fixed at 1 and t absorbs it."""
    r = np.asarray(r, float)
    y = np.asarray(loss, float)
    m = r.shape[1]
    rng = np.random.default_rng(seed)
    ymin = float(y.min())
    simplex = m > 1 and bool(np.allclose(r.sum(axis=1), 1.0, atol=1e-3))

    off = 1 if simplex else 2      # p = [c, t...] or [c, log k, t...]

    def unpack(p):
        return p[0], (0.0 if simplex else p[1]), p[off:]

    def resid(p):
        c, lk, t = unpack(p)
        return c + np.exp(np.clip(lk + r @ t, -50, 50)) - y

    def jac(p):
        c, lk, t = unpack(p)
        e = np.exp(np.clip(lk + r @ t, -50, 50))
        cols = [np.ones_like(y)] + ([] if simplex else [e]) + [e * r[:, j] for j in range(m)]
        return np.column_stack(cols)

    best = None
    for s in range(starts):
        c0 = min(ymin * rng.uniform(0.3, 0.95), ymin - 1e-6)
        t0 = rng.normal(0, 1.5, m)
        if simplex:   # k absorbed in t: start t around log(mean(y) - c)
            p0 = np.concatenate([[c0], t0 + np.log(max(float(y.mean()) - c0, 1e-3))])
        else:
            p0 = np.concatenate([[c0, np.log(max(ymin - c0, 1e-3)) + rng.normal(0, 0.3)], t0])
        lo = np.full(len(p0), -np.inf)
        hi = np.full(len(p0), np.inf)
        lo[0], hi[0] = 0.0, ymin - 1e-9
        sol = least_squares(resid, p0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=2000)
        if best is None or sol.cost < best.cost:
            best = sol
    rmse = float(np.sqrt(np.mean(best.fun ** 2)))
    fit = MixtureFit(c=float(best.x[0]), k=1.0 if simplex else float(np.exp(best.x[1])), t=best.x[off:].copy(), rmse=rmse,
                     converged=bool(best.status > 0), starts=starts, message=str(best.message),
                     bound_limited=bool(best.x[0] > ymin - 1e-4 * abs(ymin)))
    if verbose:
        print(f"mixture law c + k exp(r.t){' (k = 1: proportions sum to 1)' if simplex else ''}: {m} proportions, "
              f"{len(y)} mixtures, least squares (trf) from "
              f"{starts} starts; best rmse {rmse:.2g}, converged: {fit.converged}, "
              f"c at its bound min(loss): {fit.bound_limited}")
    return fit


@dataclass
class StepLawFit:
    c: np.ndarray       # one per curve
    k: np.ndarray       # one per curve
    alpha: float        # shared
    rmse: float
    converged: bool

    def predict(self, i: int, x: np.ndarray | float) -> np.ndarray:
        return self.c[i] + (self.k[i] / np.asarray(x, float)) ** self.alpha


def fit_step_law(curves: Sequence[tuple[np.ndarray, np.ndarray]], *, alpha0: Sequence[float] = (0.3, 0.6, 0.9)) -> StepLawFit:
    """Fit L = c_i + (k_i / x)^alpha to curves (x, L) with one alpha shared by all
    (as the authors' pipeline does) by least squares on log-parametrised
    c_i, k_i; starts: each alpha0 x c_i at 0.5 and 0.9 of the curve's minimum."""
    n = len(curves)
    xs = [np.asarray(x, float) for x, _ in curves]
    ys = [np.asarray(y, float) for _, y in curves]
    scale = [float(np.exp(np.mean(np.log(x)))) for x in xs]

    def resid(p):
        a = p[0]
        out = []
        for i in range(n):
            c, lk = p[1 + 2 * i], p[2 + 2 * i]
            out.append(c + np.exp(a * (lk - np.log(xs[i] / scale[i]))) - ys[i])
        return np.concatenate(out)

    lxs = [np.log(xs[i] / scale[i]) for i in range(n)]
    sizes = [len(x) for x in xs]
    offs = np.concatenate([[0], np.cumsum(sizes)])

    def jac(p):
        a = p[0]
        J = np.zeros((offs[-1], len(p)))
        for i in range(n):
            lk = p[2 + 2 * i]
            e = np.exp(a * (lk - lxs[i]))
            rows = slice(offs[i], offs[i + 1])
            J[rows, 0] = e * (lk - lxs[i])
            J[rows, 1 + 2 * i] = 1.0
            J[rows, 2 + 2 * i] = e * a
        return J

    best = None
    for a0 in alpha0:
        for frac in (0.5, 0.9):
            p0 = [a0]
            for i in range(n):
                c0 = frac * ys[i].min()
                red = max(float(np.mean(ys[i]) - c0), 1e-3)
                p0 += [c0, np.log(red) / a0]
            lo = [1e-3] + [0.0, -np.inf] * n
            hi = [5.0] + sum(([float(ys[i].min()) - 1e-9, np.inf] for i in range(n)), [])
            sol = least_squares(resid, np.array(p0), jac=jac, bounds=(lo, hi), method="trf", max_nfev=5000)
            if best is None or sol.cost < best.cost:
                best = sol
    p = best.x
    c = np.array([p[1 + 2 * i] for i in range(n)])
    k = np.array([scale[i] * np.exp(p[2 + 2 * i]) for i in range(n)])
    return StepLawFit(c=c, k=k, alpha=float(p[0]), rmse=float(np.sqrt(np.mean(best.fun ** 2))),
                      converged=bool(best.status > 0))
