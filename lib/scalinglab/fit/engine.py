"""The fitting engine: objectives, starting points, a batched optimiser and a polish.

Every choice that moves fitted exponents is an explicit argument here:

- ``loss``: ``"lsq"`` (squared residuals) or ``"huber"`` with ``huber_delta``;
- ``reduction``: ``"sum"`` or ``"mean"`` of the per-point losses (the optimum is the
  same; naive optimisers with absolute tolerances are not, see ``optimizer="scipy"``);
- ``space``: residuals of ``log`` predictions against ``log y`` or in ``linear`` units;
- ``starts``: the default (a variable-projection grid where the law has linear
  coefficients, otherwise a data-informed product grid), a named grid such as
  ``"chinchilla-4500"``, or an integer k (the k best points of the default grid).

The default optimiser (``"lm"``) runs Levenberg-Marquardt on all starts at once as
numpy arrays of shape (starts, points, params). Huber losses are handled by iteratively
reweighted least squares (the weights min(1, delta/|r|) make a quadratic that lies above
the Huber loss and touches it at the current point, so every accepted step lowers the
true objective). The best few results are then polished with L-BFGS-B on the exact
objective, rescaled to order one so that its tolerances are relative.

``optimizer="scipy"`` is the straightforward reference: L-BFGS-B from every start with
finite-difference gradients and scipy's default tolerances on the objective as given.

Whether a start converged is decided the same way for every optimiser, by
:func:`assess` (see there for the definition): the point it ended at must pass the
Gauss-Newton decrement test (:func:`stationary`), no free parameter may sit on a bound
of its range that the law does not declare a legitimate boundary, and a start that
stalled (Levenberg-Marquardt damping above ``LM_DAMPING_CAP``, an L-BFGS-B line search
that failed) away from a stationary point is reported as stalled. The optimisers' own
"success" flags do not enter: they hinge on the last bits of floating point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize

from scalinglab.fit.laws import Law

LOSSES = ("lsq", "huber")
REDUCTIONS = ("sum", "mean")
SPACES = ("log", "linear")
OPTIMIZERS = ("lm", "scipy")


def point_losses(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    if loss == "lsq":
        return 0.5 * r * r
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def point_psi(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """Derivative of the per-point loss with respect to the residual."""
    if loss == "lsq":
        return r
    return np.clip(r, -delta, delta)


def irls_weights(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    if loss == "lsq":
        return np.ones_like(r)
    a = np.abs(r)
    return np.where(a <= delta, 1.0, delta / np.maximum(a, 1e-300))


@dataclass
class Problem:
    """A law, its data and the objective settings. Data arrays are (n,) or, for a
    batch of bootstrap resamples, (S, n) with one row per start."""

    law: Law
    X: dict[str, np.ndarray]
    y: np.ndarray
    loss: str = "huber"
    delta: float = 1e-3
    reduction: str = "sum"
    space: str = "log"

    def __post_init__(self):
        self.logy = np.log(self.y)
        self.idx = self.law.free_index
        self.n = self.y.shape[-1]

    def rows(self, sel: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        if sel is None:
            return self.X, self.y, self.logy
        X = {k: (v[sel] if v.ndim == 2 else v) for k, v in self.X.items()}
        y = self.y[sel] if self.y.ndim == 2 else self.y
        logy = self.logy[sel] if self.logy.ndim == 2 else self.logy
        return X, y, logy

    def _scale(self) -> float:
        return 1.0 / self.n if self.reduction == "mean" else 1.0

    def residuals(self, theta_free: np.ndarray, sel=None) -> np.ndarray:
        X, y, logy = self.rows(sel)
        f = self.law.log_predict(self.law.full(theta_free), X)
        return f - logy if self.space == "log" else np.exp(f) - y

    def residuals_jac(self, theta_free: np.ndarray, sel=None) -> tuple[np.ndarray, np.ndarray]:
        X, y, logy = self.rows(sel)
        f, J = self.law.log_jacobian(self.law.full(theta_free), X)
        J = J[:, :, self.idx]
        if self.space == "log":
            return f - logy, J
        pred = np.exp(f)
        return pred - y, J * pred[..., None]

    def objective_from_r(self, r: np.ndarray) -> np.ndarray:
        out = point_losses(r, self.loss, self.delta).sum(axis=-1) * self._scale()
        return np.where(np.isfinite(out), out, np.inf)

    def objective(self, theta_free: np.ndarray, sel=None) -> np.ndarray:
        return self.objective_from_r(self.residuals(theta_free, sel))

    def gradient_from(self, r: np.ndarray, J: np.ndarray) -> np.ndarray:
        return np.einsum("snf,sn->sf", J, point_psi(r, self.loss, self.delta)) * self._scale()


def levenberg_marquardt(problem: Problem, theta0: np.ndarray, *, max_iter: int = 400,
                        ftol: float = 1e-13, xtol: float = 1e-10, merge_tol: float = 1e-2,
                        merge_every: int = 5, chunk: int = 192) -> dict[str, np.ndarray]:
    """Batched Levenberg-Marquardt with IRLS weights for Huber losses, from every row
    of ``theta0`` (free internal coordinates), projected onto the bounds.

    The starts run in blocks of ``chunk``: a block's arrays (starts x points x params)
    then stay in the CPU cache, which is several times faster than one huge batch.
    Within a block, starts whose paths meet (all internal coordinates within
    ``merge_tol``) are merged every ``merge_every`` iterations: from the same point the
    same descent follows, so one carries on and the others take its result (0 turns
    merging off; it is never done when each row has its own data, as in a bootstrap).
    A start stops when an accepted step lowers the objective by less than ``ftol`` of
    itself or moves it by less than ``xtol``, or when the damping exceeds
    ``LM_DAMPING_CAP`` (no step, however short, lowers the objective: it stalled).
    Returns, per start, theta, objective, iterations, the final damping, and the
    verdict of :func:`assess` on the point it ended at (converged, stationary,
    at_bound, stalled: the damping ended above the cap at a point that is not
    stationary), and the number of merged starts."""
    theta0 = np.atleast_2d(np.asarray(theta0, dtype=float))
    S = theta0.shape[0]
    if S <= chunk:
        return _lm_block(problem, theta0, max_iter=max_iter, ftol=ftol, xtol=xtol,
                         merge_tol=merge_tol, merge_every=merge_every)
    parts = []
    for start in range(0, S, chunk):
        rows = slice(start, min(start + chunk, S))
        sub = problem
        if problem.y.ndim == 2:  # each start has its own data rows
            sub = Problem(problem.law, {k: (v[rows] if v.ndim == 2 else v) for k, v in problem.X.items()},
                          problem.y[rows], problem.loss, problem.delta, problem.reduction, problem.space)
        parts.append(_lm_block(sub, theta0[rows], max_iter=max_iter, ftol=ftol, xtol=xtol,
                               merge_tol=merge_tol, merge_every=merge_every))
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "merged"}
    out["merged"] = int(sum(p["merged"] for p in parts))
    return out


def _lm_block(problem: Problem, theta0: np.ndarray, *, max_iter: int, ftol: float, xtol: float,
              merge_tol: float, merge_every: int) -> dict[str, np.ndarray]:
    lo, hi = problem.law.bounds()
    theta = np.clip(np.array(theta0, dtype=float), lo, hi)
    S, F = theta.shape
    every = np.arange(S)
    sel_all = every if problem.y.ndim == 2 else None
    r, J = problem.residuals_jac(theta, sel_all)
    f = problem.objective_from_r(r)
    lam = np.full(S, 1e-3)
    done = ~np.isfinite(f)
    stuck_at_exit = np.zeros(S, dtype=bool)
    iters = np.zeros(S, dtype=int)
    merged_into = np.arange(S)
    can_merge = merge_tol > 0 and problem.y.ndim == 1 and S > 1
    eye = np.eye(F)
    for it in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        if can_merge and it % merge_every == merge_every - 1 and act.size > 1:
            cells = np.round(theta[act] / merge_tol).astype(np.int64)
            order = np.lexsort((f[act],) + tuple(cells.T[::-1]))  # by cell, best first
            c_sorted = cells[order]
            first = np.ones(order.size, dtype=bool)
            first[1:] = np.any(c_sorted[1:] != c_sorted[:-1], axis=1)
            group_start = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
            leader = act[order[group_start]]
            follower = act[order[~first]]
            merged_into[follower] = leader[~first]
            done[follower] = True
            act = np.flatnonzero(~done)
        iters[act] += 1
        ra, Ja = r[act], J[act]
        w = irls_weights(ra, problem.loss, problem.delta)
        Jw = Ja * w[..., None]
        g = np.einsum("snf,sn->sf", Jw, ra)
        H = np.matmul(Jw.transpose(0, 2, 1), Ja)
        d = np.einsum("sff->sf", H)
        damp = lam[act, None] * (d + 1e-9 * d.max(axis=1, keepdims=True) + 1e-300)
        A = H + damp[:, :, None] * eye
        try:
            step = -np.linalg.solve(A, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(A, g)])
        trial = np.clip(theta[act] + step, lo, hi)
        sel = act if problem.y.ndim == 2 else None
        # residuals and Jacobian of every trial in one pass (most steps are accepted)
        r_new, J_new = problem.residuals_jac(trial, sel)
        f_new = problem.objective_from_r(r_new)
        f_old = f[act]
        better = f_new < f_old
        acc = act[better]
        if acc.size:
            theta[acc], r[acc], J[acc], f[acc] = trial[better], r_new[better], J_new[better], f_new[better]
        lam[acc] = np.maximum(lam[acc] / 3.0, 1e-12)
        lam[act[~better]] *= 4.0
        rel = (f_old - f_new) / np.maximum(np.abs(f_old), 1e-300)
        moved = np.abs(step).max(axis=1)
        small = better & ((rel < ftol) | (moved < xtol * (1 + np.abs(theta[act]).max(axis=1))))
        stuck = ~small & (lam[act] > LM_DAMPING_CAP)
        stuck_at_exit[act[stuck]] = True
        done[act[small | stuck]] = True
    # merged starts take the result of the start they joined (follow chains of merges)
    root = merged_into.copy()
    for _ in range(64):
        nxt = merged_into[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    theta, f, damping, stuck_at_exit = theta[root], f[root], lam[root], stuck_at_exit[root]
    # r and J are kept at each start's current point (merged starts take their root's)
    verdict = assess(problem, theta, sel=sel_all, stalled=stuck_at_exit, rj=(r[root], J[root]))
    return {"theta": theta, "objective": f, "iterations": iters, "damping": damping, **verdict,
            "merged": int(np.sum(root != np.arange(S)))}


def polish(problem: Problem, theta: np.ndarray, *, maxiter: int = 3000) -> tuple[np.ndarray, float, bool, str]:
    """L-BFGS-B on the exact objective from one point, rescaled by the objective at
    that point so that scipy's relative tolerances bite at every loss scale."""
    lo, hi = problem.law.bounds()
    x0 = np.clip(np.asarray(theta, dtype=float), lo, hi)
    sel = np.zeros(1, dtype=int) if problem.y.ndim == 2 else None
    scale = float(problem.objective(x0[None, :], sel)[0])
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0

    def fun(x):
        r, J = problem.residuals_jac(x[None, :], sel)
        val = problem.objective_from_r(r)[0]
        if not np.isfinite(val):
            return 1e300, np.zeros_like(x)
        return val / scale, problem.gradient_from(r, J)[0] / scale

    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                   options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 30})
    val = float(problem.objective(res.x[None, :], sel)[0])
    return res.x, val, bool(res.success), str(res.message)


def scipy_multistart(problem: Problem, theta0: np.ndarray) -> dict[str, np.ndarray]:
    """The straightforward reference: scipy L-BFGS-B from each start, finite-difference
    gradients, default tolerances, on the objective as it is (sum or mean).

    Each start is judged by :func:`assess`, not by scipy's ``success``: with default
    tolerances L-BFGS-B reports success at points that are not optima (a small
    objective, as with averaged Huber terms, ends it at once). A start whose line search
    failed away from a stationary point counts as stalled."""
    lo, hi = problem.law.bounds()
    out_theta, out_f, out_msg, out_iter = [], [], [], []
    for x0 in np.clip(theta0, lo, hi):
        res = minimize(lambda x: float(problem.objective(x[None, :])[0]), x0,
                       method="L-BFGS-B", bounds=list(zip(lo, hi)))
        out_theta.append(res.x)
        out_f.append(res.fun)
        out_msg.append(str(res.message))
        out_iter.append(int(getattr(res, "nit", 0)))
    theta = np.array(out_theta).reshape(len(out_f), -1)
    line_search_failed = np.array(["ABNORMAL" in m.upper() for m in out_msg], dtype=bool)
    verdict = assess(problem, theta, stalled=line_search_failed)
    return {"theta": theta, "objective": np.array(out_f, dtype=float),
            "iterations": np.array(out_iter, dtype=int), "messages": out_msg, **verdict}


# ----------------------------------------------------------------------------------
# Starting points
# ----------------------------------------------------------------------------------
def _nnls_small(basis: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Nonnegative least squares for many small problems at once: minimise
    ||w * (basis @ c - target)|| over c >= 0 for each of G bases (G, n, m) with m <= 4,
    by trying every support and keeping the best feasible one (exact for small m)."""
    G, n, m = basis.shape
    Bw = basis * weight[..., None]
    tw = target * weight
    gram = np.einsum("gni,gnj->gij", Bw, Bw)
    rhs = np.einsum("gni,gn->gi", Bw, tw)
    best = np.full(G, np.inf)
    coefs = np.zeros((G, m))
    t2 = np.einsum("gn,gn->g", tw, tw) if tw.ndim == 2 else np.full(G, float(tw @ tw))
    for mask in range(1, 2 ** m):
        cols = [j for j in range(m) if mask >> j & 1]
        sub = gram[:, cols][:, :, cols] + 1e-12 * np.eye(len(cols)) * gram[:, cols, cols].max(axis=1)[:, None, None]
        try:
            c = np.linalg.solve(sub, rhs[:, cols][..., None])[..., 0]
        except np.linalg.LinAlgError:
            continue
        ok = np.all(c >= 0, axis=1) & np.all(np.isfinite(c), axis=1)
        # ||Bc - t||^2 = c'Gc - 2c'r + t't
        sse = np.einsum("gi,gij,gj->g", c, gram[:, cols][:, :, cols], c) - 2 * np.einsum("gi,gi->g", c, rhs[:, cols]) + t2
        take = ok & (sse < best)
        best[take] = sse[take]
        full = np.zeros((G, m))
        full[:, cols] = c
        coefs[take] = full[take]
    return coefs


def vp_candidates(problem: Problem, chunk: int | None = None) -> np.ndarray:
    """Variable projection: for each point of the law's nonlinear grid, solve the
    linear coefficients (nonnegative, weighted so that the linear residual approximates
    the log residual when space is log) and return full internal vectors."""
    law = problem.law
    grid = law.vp_grid(problem.X)
    y = problem.y
    chunk = chunk or max(16, int(4e6 // max(y.size, 1)))  # bounded memory for large data
    weight = 1.0 / y if problem.space == "log" else np.ones_like(y)
    lin_idx = [law.names.index(n) for n in law.linear]
    floor = np.array([math.exp(law.params[i].lo) for i in lin_idx])
    out = []
    for start in range(0, len(grid), chunk):
        nl = grid[start:start + chunk]
        basis = law.vp_basis(nl, problem.X)
        if basis.ndim == 2:
            basis = basis[None]
        coefs = _nnls_small(basis, np.broadcast_to(y, basis.shape[:2]), weight)
        coefs = np.maximum(coefs, floor * 1.0001)
        out.append(law.vp_assemble(nl, coefs))
    return np.vstack(out)


def _distinct(theta: np.ndarray, order: np.ndarray, k: int, tol: float = 1e-3) -> np.ndarray:
    """Up to k rows of theta in the given order, skipping near-duplicates."""
    picked: list[int] = []
    for i in order:
        if not np.isfinite(theta[i]).all():
            continue
        if all(np.max(np.abs(theta[i] - theta[j]) / (1 + np.abs(theta[j]))) > tol for j in picked):
            picked.append(int(i))
        if len(picked) >= k:
            break
    return np.array(picked, dtype=int)


def starting_points(problem: Problem, starts: Any, *, default_k: int = 12,
                    max_default: int = 256) -> tuple[np.ndarray, str]:
    """Free internal starting vectors and a description of how they were chosen."""
    law = problem.law
    lo, hi = law.bounds()
    if isinstance(starts, str) and starts not in ("default",):
        full = law.named_grid(starts)
        free = full[:, law.free_index]
        return np.clip(free, lo, hi), f"{starts} grid ({len(free)} starts)"
    if isinstance(starts, np.ndarray) or (isinstance(starts, (list, tuple)) and starts and not isinstance(starts, str)):
        arr = np.atleast_2d(np.asarray(starts, dtype=float))
        if arr.shape[1] == len(law.names):
            arr = arr[:, law.free_index]
        return np.clip(arr, lo, hi), f"{len(arr)} given starts"
    if isinstance(starts, bool) or not (starts == "default" or isinstance(starts, (int, np.integer))):
        raise ValueError(f"starts={starts!r}: use 'default', a grid name, an int or an array")
    k = default_k if starts == "default" else int(starts)
    if k < 1:
        raise ValueError(f"starts={starts!r} must be >= 1")
    if law.supports_vp():
        cand = vp_candidates(problem)
        how = "variable-projection grid"
    else:
        cand = law.data_grid(problem.X, problem.y)
        for i, p in enumerate(law.params):
            if p.name in law.fixed:
                cand[:, i] = p.to_internal(law.fixed[p.name])
        how = "data-informed grid"
    free = np.clip(cand[:, law.free_index], lo, hi)
    free = np.unique(free, axis=0)
    obj = problem.objective(free)
    order = np.argsort(obj, kind="stable")
    if starts == "default" and not law.supports_vp() and len(free) <= max_default:
        chosen = order[np.isfinite(obj[order])]
        if chosen.size == 0:
            chosen = order
        return free[chosen], f"{how} ({len(chosen)} starts)"
    chosen = _distinct(free, order, k)
    if chosen.size == 0:
        chosen = order[:k]
    return free[chosen], f"{how}, best {len(chosen)} of {len(free)}"


def optimise(problem: Problem, starts_free: np.ndarray, *, optimizer: str = "lm",
             n_polish: int = 3) -> dict[str, Any]:
    """Run the optimiser from every start; return the best point and its verdict.

    ``converged``, ``failure`` (the reasons it is not, empty when it is) and
    ``stationary`` describe the returned point as :func:`explain` judges it; the
    optimisers' own stopping flags do not decide (see :func:`assess`)."""
    if optimizer == "scipy":
        out = scipy_multistart(problem, starts_free)
        best = int(np.nanargmin(out["objective"]))
        theta = out["theta"][best]
        stall = (f"stalled (L-BFGS-B: {out['messages'][best]})" if out["stalled"][best] else None)
        verdict = explain(problem, theta, stall=stall)
        return {"theta": theta, "objective": float(out["objective"][best]), **verdict,
                "message": f"scipy L-BFGS-B, default tolerances: {out['messages'][best]}",
                "all_objectives": out["objective"], "all_theta": out["theta"]}
    # the batched phase finds the basins; the polish converges tightly in the best few
    out = levenberg_marquardt(problem, starts_free, ftol=1e-10)
    order = np.argsort(out["objective"], kind="stable")
    best_theta, best_f, msg, stall = None, np.inf, "", None
    for i in _distinct(out["theta"], order, n_polish):
        x, f, ok, m = polish(problem, out["theta"][i])
        # the polish must not lose what the batched phase found
        from_lm = out["objective"][i] <= f
        if from_lm:
            x, f = out["theta"][i], float(out["objective"][i])
        if f < best_f:
            best_theta, best_f = x, f
            if from_lm:
                msg = "Levenberg-Marquardt" + (" (the polish did not improve it)" if ok else f" (polish: {m})")
                stall = f"stalled (LM damping {_e(out['damping'][i])})" if out["stalled"][i] else None
            else:
                msg = f"Levenberg-Marquardt + L-BFGS-B polish: {m}"
                stall = None if ok or "ABNORMAL" not in m.upper() else f"stalled (L-BFGS-B polish: {m})"
    if best_theta is None:  # no start reached a finite objective
        best_theta, best_f = out["theta"][order[0]], float(out["objective"][order[0]])
    # The returned point is judged by what matters, first-order optimality and the bounds,
    # not by which phase's stopping rule fired: those flags hinge on the last bits of
    # floating point (a line search that ends "abnormally" at an optimum, an iteration
    # cap hit by a hair).
    verdict = explain(problem, best_theta, stall=stall)
    return {"theta": best_theta, "objective": float(best_f), **verdict,
            "message": msg, "all_objectives": out["objective"], "all_theta": out["theta"]}


# ----------------------------------------------------------------------------------
# Convergence: one definition for every optimiser
# ----------------------------------------------------------------------------------
# A point counts as an optimum when the Gauss-Newton step from it would lower the
# objective by less than DECREMENT_RTOL of itself. Rounding leaves decrements of about
# 1e-18 to 1e-11 at a polished optimum (the Huber kink makes the model of the curvature
# rough), even when the problem is ill-conditioned and the raw gradient is not small; a
# flat direction may still allow a long step, which says the parameter is poorly
# determined, not that the optimiser stopped early.
DECREMENT_RTOL = 1e-8
# ... or by less than the objective of residuals at RESIDUAL_RESOLUTION of the targets
# (relative to max(1, |target|), in the space the residuals are taken in): on data a law
# fits exactly the objective is itself rounding, ~1e-30, and the Gauss-Newton step would
# "lower" it by about all of it.
RESIDUAL_RESOLUTION = 1e-12
# A free parameter within BOUND_RTOL of the width of its range from an end of it is on
# that bound (also for bootstrap resamples and for interval ends, see FitResult).
BOUND_RTOL = 1e-3
# A Levenberg-Marquardt start whose damping exceeds this has stalled: only ever shorter
# steps along the scaled gradient were tried, and none lowered the objective.
LM_DAMPING_CAP = 1e10


def _e(x: float) -> str:
    """3e12, 2.5e-05 -> 2.5e-5: compact scientific notation for messages."""
    m, _, p = f"{x:.2g}".partition("e")
    return m + ("e" + str(int(p)) if p else "")


def decrements(problem: Problem, theta: np.ndarray, sel=None, rj: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For free internal vectors ``theta`` (S, F): the objective, the Gauss-Newton
    decrement and the rounding floor of the decrement test, each (S,).

    The decrement is how much the Gauss-Newton step (with the IRLS weights of a Huber
    loss) would lower the objective, over the coordinates that are not held on a bound
    (a coordinate on a bound whose gradient pushes outward stays there). ``sel`` picks
    data rows when each start has its own (a bootstrap batch); NaN where the objective
    or its gradient is not finite. ``rj``: the residuals and Jacobian at ``theta`` when
    the caller has them."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    S = theta.shape[0]
    r, J = problem.residuals_jac(theta, sel) if rj is None else rj
    f = problem.objective_from_r(r)
    g = problem.gradient_from(r, J)
    _, y, logy = problem.rows(sel)
    target = np.broadcast_to(logy if problem.space == "log" else y, r.shape)
    floor = problem.objective_from_r(RESIDUAL_RESOLUTION * np.maximum(1.0, np.abs(target)))
    lo, hi = problem.law.bounds()
    span = hi - lo
    held = ((theta - lo <= 1e-9 * span) & (g >= 0)) | ((hi - theta <= 1e-9 * span) & (g <= 0))
    w = irls_weights(r, problem.loss, problem.delta)
    H = np.matmul((J * w[..., None]).transpose(0, 2, 1), J) * problem._scale()
    # the minimum-norm Gauss-Newton step in the coordinates not held: held rows and
    # columns are zeroed, and singular values below rounding (as numpy's lstsq cuts
    # them) are dropped, so a flat direction adds nothing
    free = ~held
    ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(H), axis=(1, 2))
    dec = np.full(S, np.nan)
    if ok.any():
        Hm = H[ok] * free[ok][:, :, None] * free[ok][:, None, :]
        gm = np.where(free[ok], g[ok], 0.0)
        U, sv, Vt = np.linalg.svd(Hm)
        cut = np.finfo(float).eps * Hm.shape[-1] * sv[:, :1]
        inv = np.where(sv > cut, 1.0 / np.where(sv > cut, sv, 1.0), 0.0)
        coef = inv * np.einsum("sji,sj->si", U, gm)
        step = np.einsum("sij,si->sj", Vt, coef)
        dec[ok] = 0.5 * np.einsum("sf,sf->s", gm, step)
    return f, dec, floor


def _passes(f: np.ndarray, dec: np.ndarray, floor: np.ndarray, decrement_rtol: float) -> np.ndarray:
    ok = np.isfinite(f) & np.isfinite(dec)
    return ok & (np.where(ok, dec, np.inf) <= decrement_rtol * np.where(ok, f, 0.0) + floor + 1e-300)


def stationary(problem: Problem, theta: np.ndarray, decrement_rtol: float = DECREMENT_RTOL) -> bool:
    """Whether ``theta`` is a local optimum of the bounded fit to tolerances far above
    rounding noise: a coordinate on a bound whose gradient pushes outward stays there,
    and the Gauss-Newton step in the other coordinates would lower the objective by at
    most ``decrement_rtol`` of itself (or by less than residuals at
    ``RESIDUAL_RESOLUTION`` of the targets would weigh, on data fitted exactly)."""
    if problem.y.ndim != 1:
        return False
    f, dec, floor = decrements(problem, np.asarray(theta, dtype=float)[None, :])
    return bool(_passes(f, dec, floor, decrement_rtol)[0])


def bound_hits(law: Law, theta_free: np.ndarray, rtol: float = BOUND_RTOL, *,
               legitimate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Which free coordinates of ``theta_free`` (..., F) are within ``rtol`` of the width
    of their range from its lower and from its upper end, as two bool arrays. Ends the
    law declares legitimate boundaries (``Param.boundary``) count only with
    ``legitimate=True``."""
    theta_free = np.asarray(theta_free, dtype=float)
    lo, hi = law.bounds()
    span = hi - lo
    at_lo = theta_free - lo <= rtol * span
    at_hi = hi - theta_free <= rtol * span
    if not legitimate:
        ok_lo, ok_hi = law.legitimate_bounds()
        at_lo, at_hi = at_lo & ~ok_lo, at_hi & ~ok_hi
    return at_lo, at_hi


def assess(problem: Problem, theta: np.ndarray, *, sel=None, stalled: np.ndarray | None = None,
           decrement_rtol: float = DECREMENT_RTOL, rj: tuple[np.ndarray, np.ndarray] | None = None
           ) -> dict[str, np.ndarray]:
    """The verdict on the points where starts ended, free internal vectors (S, F).

    A start is **converged** exactly when

    (a) its point is *stationary*: it passes the Gauss-Newton decrement test of
        :func:`stationary` (the step from it would lower the objective by at most
        ``decrement_rtol`` of itself, or by less than rounding on exactly fitted data).
        This is the first-order test, not the optimiser's "success": scipy's L-BFGS-B
        with default tolerances reports success at points that fail it;
    (b) no free parameter is *at a bound*: within ``BOUND_RTOL`` of the width of its
        range from an end of it, unless the law declares that end a legitimate boundary
        (``Param.boundary``). A fit that ran away (a log-parameter driven to +-80, a
        tokens-per-parameter ratio of 1e-19) ends there;
    (c) it did not *stall*: ``stalled`` (S,) marks starts whose optimiser gave up
        without meeting its tolerance, Levenberg-Marquardt damping above
        ``LM_DAMPING_CAP`` or an L-BFGS-B line search that failed. A start that stalls
        at a point passing (a) has reached the optimum to the resolution of floating
        point (no step can lower the objective there, which is also how a start ends on
        an optimum resolved to the last bit: in a linear-space bootstrap of Epoch's
        Chinchilla runs 7 of 200 resamples end so, at points passing (a)); it is
        converged, and ``stalled`` is reported False for it. Elsewhere the stall is
        reported and (a) fails. (Counting every damping blow-up as a failure would make
        the verdict hinge on the last bits, the very thing it must not do.)

    The decision reads the point, never which stopping rule fired, so 1e-12 relative
    changes of the data do not flip it. Returns bool arrays (S,) ``converged``,
    ``stationary``, ``at_bound`` (b fails) and ``stalled``."""
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    f, dec, floor = decrements(problem, theta, sel, rj)
    stat = _passes(f, dec, floor, decrement_rtol)
    at_lo, at_hi = bound_hits(problem.law, theta)
    at_bound = np.any(at_lo | at_hi, axis=1)
    stalled = (np.zeros(theta.shape[0], dtype=bool) if stalled is None
               else np.asarray(stalled, dtype=bool)) & ~stat
    return {"converged": stat & ~at_bound, "stationary": stat, "at_bound": at_bound, "stalled": stalled}


def explain(problem: Problem, theta: np.ndarray, *, stall: str | None = None,
            decrement_rtol: float = DECREMENT_RTOL) -> dict[str, Any]:
    """:func:`assess` for one point (F,), with the reasons it is not converged:
    ``{"converged", "stationary", "failure": [...], "decrement": d}``, where failure
    holds, in this order, "objective not finite", ``stall`` (e.g. "stalled (LM damping
    3e12)") if given and the point is not stationary, "gradient tolerance not met
    (...)", and "at bound: NAME (...)" for each free parameter on a bound that is not
    a legitimate boundary. ``decrement`` is the Gauss-Newton decrement relative to the
    objective."""
    theta = np.asarray(theta, dtype=float)
    sel = np.zeros(1, dtype=int) if problem.y.ndim == 2 else None
    f, dec, floor = decrements(problem, theta[None, :], sel)
    stat = bool(_passes(f, dec, floor, decrement_rtol)[0])
    failure: list[str] = []
    f0, d0 = float(f[0]), float(dec[0])
    rel = d0 / f0 if (np.isfinite(d0) and np.isfinite(f0) and f0 > 0) else float("nan")
    if not np.isfinite(f0):
        failure.append("objective not finite")
    elif not stat:
        if stall:
            failure.append(stall)
        # the size of the decrement is in "decrement", not in the message: where an
        # optimiser stops short moves with the last bits, and the message is printed
        failure.append(f"gradient tolerance not met (Gauss-Newton decrement above {_e(decrement_rtol)} "
                       "of the objective)" if np.isfinite(rel)
                       else "gradient tolerance not met (gradient not finite)")
    law = problem.law
    lo, hi = law.bounds()
    at_lo, at_hi = bound_hits(law, theta)
    for j, name in enumerate(law.free):
        if at_lo[j] or at_hi[j]:
            p = law.params[law.names.index(name)]
            coord = f"log {name}" if p.transform == "log" else name
            side = "lower" if at_lo[j] else "upper"
            # the end, not the point's last digits: the message must not move with rounding
            failure.append(f"at bound: {name} ({coord} at the {side} end of its range [{lo[j]:.4g}, {hi[j]:.4g}])")
    return {"converged": not failure, "stationary": stat, "failure": failure, "decrement": rel}


def at_bounds(law: Law, theta_free: np.ndarray, rtol: float = BOUND_RTOL) -> list[str]:
    """Free parameters within rtol of the width of their box from a bound (an
    estimate there is a limit the data push against, not a value), legitimate
    boundaries (``Param.boundary``) included."""
    at_lo, at_hi = bound_hits(law, theta_free, rtol, legitimate=True)
    return [n for n, h in zip(law.free, np.ravel(at_lo | at_hi)) if h]
