"""Replica theory of the max-margin perceptron trained on margin-pruned data.

Setting (Sorscher et al. 2022, and :mod:`scalinglab.models.perceptron`): teacher T,
Gaussian inputs, a probe at angle theta from T, keep a fraction f of the pool (the
smallest or the largest probe margins), alpha = alpha_prune examples per dimension kept,
max-margin student J. Write u = T.x and w = e.x for the unit vector e of the probe's plane
orthogonal to T; every other direction of x is still standard Gaussian after pruning.
A unit student has field J.x = R u + rho w + sqrt(1 - R^2 - rho^2) t, t ~ N(0, 1).

Gardner's calculation, taken to the limit q -> 1 where the version space shrinks to the
max-margin point, reduces to one function (our derivation, standard in form):

    F(R, rho, kappa) = S - alpha E_{u,w} E_t [(kappa - sgn(u)(R u + rho w) - sqrt(S) t)_+^2],
    S = 1 - R^2 - rho^2.

The largest margin kappa with F >= 0 for some (R, rho) is the max-margin solution, so
(R, rho, kappa) solve F = 0, dF/dR = 0, dF/drho = 0. The Gaussian average over t is closed
form, g(a, s) = E_t[(a - s t)_+^2] = (a^2 + s^2) Phi(a/s) + a s phi(a/s), with
dg/da = 2 (a Phi + s phi) and dg/ds = 2 s Phi. Without pruning this gives
alpha_c = 2 at R = kappa = 0 (Gardner's capacity) and eps ~ 0.50/alpha at large alpha.
The student's test error is eps = arccos(R) / pi.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

KEEP = ("hard", "easy")
_CUTOFF = 10.0  # Gaussian fields beyond 10 sigma carry no mass at double precision


def _Phi(x):
    return special.ndtr(x)


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def gaussian_hinge_square(a, s):
    """g(a, s) = E_t[(a - s t)_+^2] for t ~ N(0, 1), s > 0."""
    c = a / s
    return (a * a + s * s) * _Phi(c) + a * s * _phi(c)


@dataclass(frozen=True)
class PruningTheory:
    """The replica solution at one (alpha_prune, keep_fraction, keep, probe_angle)."""

    alpha_prune: float
    keep_fraction: float
    keep: str
    probe_angle: float
    error: float          # arccos(R) / pi
    overlap: float        # R, student-teacher overlap
    probe_overlap: float  # rho, overlap with the probe's direction orthogonal to T
    margin: float         # kappa, the max margin of the unit student
    converged: bool


@dataclass(frozen=True)
class _Quadrature:
    """Nodes of the (u, w) average under pruning, already folded by sgn(u):
    au = |u|, aw = sgn(u) w, weights sum to 1."""

    au: np.ndarray
    aw: np.ndarray
    weight: np.ndarray


@functools.lru_cache(maxsize=None)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: computing them costs more than
    a whole solve)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def _margin_interval(keep_fraction: float, keep: str) -> tuple[float, float]:
    """The kept range of the probe margin |v|, v ~ N(0, 1)."""
    if keep == "hard":
        return 0.0, min(float(special.ndtri((1 + keep_fraction) / 2)), _CUTOFF)
    return float(special.ndtri(1 - keep_fraction / 2)), _CUTOFF


def _quadrature(keep_fraction: float, keep: str, probe_angle: float,
                n_margin: int | None = None, n_orth: int = 40) -> _Quadrature:
    # Node counts: errors agree with a 240 x 64 grid to ~1e-4 relative (tests check 1e-3).
    if n_margin is None:
        n_margin = 160 if probe_angle == 0.0 else 120
    lo, hi = _margin_interval(keep_fraction, keep)
    x, w = _gauss_legendre(n_margin)
    v = lo + (x + 1) * (hi - lo) / 2
    # density of |v| on the kept range, normalised to 1 (the pruned distribution)
    wv = w * (hi - lo) / 2 * 2 * _phi(v) / keep_fraction
    if probe_angle == 0.0:
        return _Quadrature(au=v, aw=np.zeros_like(v), weight=wv)
    # Probe field v = cos(th) u + sin(th) w, its orthogonal partner v' ~ N(0, 1) untouched.
    # u = cos(th) v - sin(th) v' changes sign at v' = v cot(th): split the v' integral there
    # (and use the symmetry (v, v') -> (-v, -v') to keep v >= 0).
    c, s = math.cos(probe_angle), math.sin(probe_angle)
    xo, wo = _gauss_legendre(n_orth)
    split = np.clip(v * c / s, -_CUTOFF, _CUTOFF)
    pieces = []
    for a, b in ((np.full_like(v, -_CUTOFF), split), (split, np.full_like(v, _CUTOFF))):
        vp = a[:, None] + (xo[None, :] + 1) * (b - a)[:, None] / 2
        wp = wo[None, :] * (b - a)[:, None] / 2 * _phi(vp)
        pieces.append((vp, wp))
    vp = np.concatenate([p[0] for p in pieces], axis=1)
    wp = np.concatenate([p[1] for p in pieces], axis=1)
    V = np.broadcast_to(v[:, None], vp.shape)
    u = c * V - s * vp
    w_field = s * V + c * vp
    sign = np.where(u >= 0, 1.0, -1.0)
    return _Quadrature(au=(sign * u).ravel(), aw=(sign * w_field).ravel(),
                       weight=(wv[:, None] * wp).ravel())


def _F_and_gradient(R: float, rho: float, kappa: float, alpha: float, q: _Quadrature,
                    S: float | None = None):
    """F and its partial derivatives in (R, rho, kappa). ``S`` = 1 - R^2 - rho^2 may be
    passed in when it is known more accurately than the difference (R close to 1)."""
    if S is None:
        S = 1.0 - R * R - rho * rho
    if S <= 0:
        return -np.inf, np.nan, np.nan, np.nan
    s = math.sqrt(S)
    a = kappa - R * q.au - rho * q.aw
    c = a / s
    Phi, phi = _Phi(c), _phi(c)
    g = (a * a + S) * Phi + a * s * phi
    ga = 2 * (a * Phi + s * phi)             # dg/da
    gs_over_s = 2 * Phi                      # (dg/ds) / s
    F = S - alpha * np.sum(q.weight * g)
    dR = -2 * R + alpha * np.sum(q.weight * (ga * q.au + gs_over_s * R))
    drho = -2 * rho + alpha * np.sum(q.weight * (ga * q.aw + gs_over_s * rho))
    dkappa = -alpha * np.sum(q.weight * ga)
    return F, dR, drho, dkappa


def _kappa_at(R: float, rho: float, alpha: float, q: _Quadrature, start: float = 0.0,
              S: float | None = None) -> float:
    """The margin with F(R, rho, kappa) = 0. F is concave and decreasing in kappa
    (dF/dkappa = -alpha E[g_a] < 0, d2F/dkappa2 = -2 alpha E[Phi] < 0), so Newton's method
    started right of the root (F <= 0) descends to it monotonically, without overshoot."""
    kappa, width = float(start), 0.5
    F, _, _, dk = _F_and_gradient(R, rho, kappa, alpha, q, S)
    while F > 0:  # move right of the root first
        kappa += width
        width *= 2
        F, _, _, dk = _F_and_gradient(R, rho, kappa, alpha, q, S)
    for _ in range(200):
        step = F / dk
        kappa -= step
        if abs(step) <= 1e-15 * max(1.0, abs(kappa)) or F == 0:
            break
        F, _, _, dk = _F_and_gradient(R, rho, kappa, alpha, q, S)
    return kappa


def _check(alpha_prune: float, keep_fraction: float, keep: str, probe_angle: float) -> None:
    if not alpha_prune > 0:
        raise ValueError(f"alpha_prune={alpha_prune} must be > 0")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction={keep_fraction} must lie in (0, 1]")
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r} is not one of {', '.join(KEEP)}")
    if not 0.0 <= probe_angle < math.pi / 2:
        raise ValueError(f"probe_angle={probe_angle} must lie in [0, pi/2) radians")


def pruned_max_margin_theory(alpha_prune: float, keep_fraction: float = 1.0, keep: str = "hard",
                             probe_angle: float = 0.0) -> PruningTheory:
    """Solve the replica equations for the max-margin student on pruned data."""
    _check(alpha_prune, keep_fraction, keep, probe_angle)
    alpha = float(alpha_prune)
    # Angles keep the student on the unit sphere and resolve small errors: R = cos(phi),
    # rho = sin(phi) cos(psi), sqrt(S) = sin(phi) sin(psi), and the error is phi / pi.
    # With a perfect probe (or no pruning) rho = 0 by symmetry: maximise kappa(phi) in 1-D.
    q0 = _quadrature(keep_fraction, keep, 0.0)
    best = optimize.minimize_scalar(
        lambda phi: -_kappa_at(math.cos(phi), 0.0, alpha, q0, S=math.sin(phi) ** 2),
        bounds=(1e-9, math.pi / 2), method="bounded", options={"xatol": 1e-13})
    phi, psi, kappa = float(best.x), math.pi / 2, -float(best.fun)
    converged = bool(best.success)
    if probe_angle > 0.0 and keep_fraction < 1.0:
        q = _quadrature(keep_fraction, keep, probe_angle)
        last = [kappa]

        # kappa(R, rho) is concave (the best margin at given overlaps of a convex problem),
        # so a quasi-Newton ascent in the angles finds its maximum.
        def negative_kappa(angles):
            ph, ps = angles
            R_, rho_ = math.cos(ph), math.sin(ph) * math.cos(ps)
            S_ = (math.sin(ph) * math.sin(ps)) ** 2
            k = _kappa_at(R_, rho_, alpha, q, start=last[0], S=S_)
            last[0] = k
            _, dR, drho, dk = _F_and_gradient(R_, rho_, k, alpha, q, S_)
            kR, krho = -dR / dk, -drho / dk            # d kappa / dR, d kappa / drho
            d_phi = -kR * math.sin(ph) + krho * math.cos(ph) * math.cos(ps)
            d_psi = -krho * math.sin(ph) * math.sin(ps)
            return -k, -np.array([d_phi, d_psi])

        res = optimize.minimize(negative_kappa, [phi, math.pi / 2], jac=True, method="BFGS",
                                options={"gtol": 1e-12, "maxiter": 1000})
        phi, psi = map(float, res.x)
        kappa = -float(res.fun)
        converged = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-9
    phi = abs(phi) % (2 * math.pi)
    phi = min(phi, 2 * math.pi - phi)
    R, rho = math.cos(phi), math.sin(phi) * math.cos(psi)
    error = phi / math.pi
    return PruningTheory(alpha_prune=alpha, keep_fraction=float(keep_fraction), keep=keep,
                         probe_angle=float(probe_angle), error=error, overlap=R,
                         probe_overlap=rho, margin=kappa, converged=converged)


@dataclass(frozen=True)
class FrontierPoint:
    """The best pruning at one pruned-set size: keep rule, keep fraction, theory error."""

    alpha_prune: float
    keep: str
    keep_fraction: float
    error: float


def pareto_frontier(alpha_prunes, fractions, keeps=KEEP, probe_angle: float = 0.0) -> list[FrontierPoint]:
    """For each pruned-set size alpha_prune, the (keep rule, keep fraction) among
    ``keeps`` x ``fractions`` with the lowest theory error: the lower envelope of the
    fixed-fraction learning curves. A fraction f needs a pool of alpha_prune / f."""
    out = []
    for ap in np.atleast_1d(alpha_prunes):
        best = None
        for keep in keeps:
            for f in fractions:
                err = pruned_max_margin_theory(float(ap), float(f), keep, probe_angle).error
                if best is None or err < best.error:
                    best = FrontierPoint(float(ap), keep, float(f), err)
        out.append(best)
    return out


def keep_rule_crossover(keep_fraction: float, alpha_lo: float = 0.5, alpha_hi: float = 256.0,
                        probe_angle: float = 0.0) -> float:
    """The pool size alpha_tot at which keeping the hard and keeping the easy fraction f
    give the same theory error (keep-easy wins below it, keep-hard above); NaN if the
    sign does not change between alpha_lo and alpha_hi."""
    def gap(log_alpha):
        at = math.exp(log_alpha)
        easy = pruned_max_margin_theory(at * keep_fraction, keep_fraction, "easy", probe_angle)
        hard = pruned_max_margin_theory(at * keep_fraction, keep_fraction, "hard", probe_angle)
        return easy.error - hard.error
    grid = np.linspace(math.log(alpha_lo), math.log(alpha_hi), 17)
    gaps = [gap(x) for x in grid]
    for i in range(len(grid) - 1):
        if gaps[i] < 0 <= gaps[i + 1]:
            return math.exp(optimize.brentq(gap, grid[i], grid[i + 1], xtol=1e-10))
    return float("nan")
