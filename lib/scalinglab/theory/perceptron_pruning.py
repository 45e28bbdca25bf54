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
The student's test error is eps = arccos(R) / pi. The maximum of kappa(R, rho) is found by a
safeguarded Newton ascent in angles (:func:`_maximise_kappa`); ``PruningTheory.converged``
says whether it met its tolerance, and ``message`` how it ended.
"""
from __future__ import annotations

import functools
import math
import warnings
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
    # the last Newton step's move of the student over its angle to the teacher (converged:
    # below 1e-8, and that step was then taken), and the solver's account of how it ended
    residual: float = math.nan
    message: str = ""


class ConvergenceWarning(RuntimeWarning):
    """The replica equations were not solved to tolerance (see PruningTheory.message)."""


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


def _F_and_dkappa(R: float, rho: float, S: float, kappa: float, alpha: float, q: _Quadrature):
    """F and dF/dkappa only (the inner root-finding needs nothing else)."""
    s = math.sqrt(S)
    a = kappa - R * q.au - rho * q.aw
    c = a / s
    Phi, phi = _Phi(c), _phi(c)
    wPhi = q.weight * Phi
    wphi = q.weight * phi
    # g = (a^2 + S) Phi + a s phi, dg/da = 2 (a Phi + s phi)
    F = S - alpha * (np.dot(wPhi, a * a) + S * wPhi.sum() + s * np.dot(wphi, a))
    dkappa = -2 * alpha * (np.dot(wPhi, a) + s * wphi.sum())
    return float(F), float(dkappa)


def _kappa_at(R: float, rho: float, alpha: float, q: _Quadrature, start: float = 0.0,
              S: float | None = None) -> float:
    """The margin with F(R, rho, kappa) = 0. F is concave and decreasing in kappa
    (dF/dkappa = -alpha E[g_a] < 0, d2F/dkappa2 = -2 alpha E[Phi] < 0), so a Newton step
    from the left lands on or right of the root (the tangent lies above F), and from there
    Newton's method descends to the root monotonically, without overshoot. Left of the
    root F' can be tiny (no example near the margin), so steps there are capped at a
    doubling width."""
    if S is None:
        S = 1.0 - R * R - rho * rho
    if S <= 0:
        raise ValueError(f"R={R}, rho={rho} lie outside the unit disc")
    kappa, width = float(start), 0.5
    F, dk = _F_and_dkappa(R, rho, S, kappa, alpha, q)
    while F > 0:  # move right of the root first
        moved = kappa + (min(-F / dk, width) if dk < 0 else width)
        if moved == kappa:  # the root, to rounding
            return kappa
        kappa, width = moved, 2 * width
        F, dk = _F_and_dkappa(R, rho, S, kappa, alpha, q)
    for _ in range(200):
        step = F / dk
        kappa -= step
        if abs(step) <= 1e-15 * max(1.0, abs(kappa)) or F == 0:
            break
        F, dk = _F_and_dkappa(R, rho, S, kappa, alpha, q)
    return kappa


def _student(logphi: float, t: float) -> tuple[float, float, float]:
    """(R, rho, S) of the unit student at angle phi = exp(logphi) from the teacher, turned by
    psi = 2 arctan(exp(t)) about it: rho = sin(phi) cos(psi), sqrt(S) = sin(phi) sin(psi),
    with cos(psi) = -tanh(t) and sin(psi) = 1 / cosh(t). t = 0 (psi = pi/2) is rho = 0, and
    the rim of the unit disc (S = 0, psi = 0 or pi) lies at t = -inf or +inf."""
    sp = math.sin(math.exp(logphi))
    return math.cos(math.exp(logphi)), -sp * math.tanh(t), (sp / math.cosh(t)) ** 2


def _kappa_derivatives(logphi: float, t: float, kappa: float, alpha: float,
                       q: _Quadrature) -> tuple[np.ndarray, np.ndarray, float]:
    """Gradient and Hessian of kappa in (log phi, t) at a point where F = 0, and the norm of
    its gradient on the unit sphere of students (kappa per radian the student turns).

    The derivatives of F in (phi, psi, kappa) come from those of g (g_aa = 2 Phi,
    g_as = 2 phi, g_ss = 2 Phi - 2 c phi, c = a / s) through a = kappa - R u' - rho w' and
    s = sin(phi) sin(psi), both smooth in the angles; kappa's follow by implicit
    differentiation of F(phi, psi, kappa(phi, psi)) = 0."""
    phi = math.exp(logphi)
    cp, sp = math.cos(phi), math.sin(phi)
    cs, ss = -math.tanh(t), 1.0 / math.cosh(t)           # cos(psi), sin(psi)
    R, rho, s = cp, sp * cs, sp * ss
    au, aw, w = q.au, q.aw, q.weight
    a = kappa - R * au - rho * aw
    c = a / s
    Phi, ph = _Phi(c), _phi(c)
    wPhi, wph = w * Phi, w * ph
    wga = 2 * (wPhi * a + s * wph)                       # weight * dg/da
    # moments over the basis b = (u', w', 1) in which every a-derivative is expressed
    m_ga = np.array([np.dot(wga, au), np.dot(wga, aw), wga.sum()])
    m_ph = np.array([np.dot(wph, au), np.dot(wph, aw), wph.sum()])
    Pu, Pw = wPhi * au, wPhi * aw
    M_Phi = np.array([[np.dot(Pu, au), np.dot(Pu, aw), Pu.sum()],
                      [np.dot(Pu, aw), np.dot(Pw, aw), Pw.sum()],
                      [Pu.sum(), Pw.sum(), wPhi.sum()]])
    E_Phi = wPhi.sum()
    E_gs = 2 * s * E_Phi                                  # E[dg/ds]
    E_gss = 2 * E_Phi - 2 * np.dot(wph, c)                # E[d2g/ds2]
    # derivatives in (phi, psi, kappa): rows of A give a_i over the basis b, sv gives s_i
    A = np.array([[sp, -cp * cs, 0.0], [0.0, sp * ss, 0.0], [0.0, 0.0, 1.0]])
    sv = np.array([cp * ss, sp * cs, 0.0])
    A2 = np.zeros((3, 3, 3))                              # second derivatives of a
    A2[0, 0] = (cp, sp * cs, 0.0)
    A2[0, 1] = A2[1, 0] = (0.0, cp * ss, 0.0)
    A2[1, 1] = (0.0, sp * cs, 0.0)
    s2 = np.zeros((3, 3))                                 # second derivatives of s
    s2[0, 0] = s2[1, 1] = -s
    s2[0, 1] = s2[1, 0] = cp * cs
    Aph = A @ m_ph
    dG = A @ m_ga + E_gs * sv
    d2G = (2 * A @ M_Phi @ A.T + 2 * (np.outer(Aph, sv) + np.outer(sv, Aph))
           + E_gss * np.outer(sv, sv) + A2 @ m_ga + 2 * s * E_Phi * s2)
    dF = 2 * s * sv - alpha * dG
    d2F = 2 * (np.outer(sv, sv) + s * s2) - alpha * d2G
    Fk = dF[2]
    k1 = -dF[:2] / Fk                                     # d kappa / d(phi, psi)
    k2 = -(d2F[:2, :2] + np.outer(d2F[:2, 2], k1) + np.outer(k1, d2F[:2, 2])
           + d2F[2, 2] * np.outer(k1, k1)) / Fk
    # to (log phi, t): dphi/dlogphi = phi, dpsi/dt = sin(psi), d2psi/dt2 = sin(psi) cos(psi)
    grad = np.array([phi * k1[0], ss * k1[1]])
    hess = np.array([[phi * phi * k2[0, 0] + phi * k1[0], phi * ss * k2[0, 1]],
                     [phi * ss * k2[0, 1], ss * ss * k2[1, 1] + ss * cs * k1[1]]])
    return grad, hess, math.hypot(k1[0], k1[1] / sp)


# Convergence: a Newton step (negative definite Hessian) that moves the student by less than
# _RTOL times its angle phi to the teacher, at a point where kappa's gradient on the sphere
# is below _GTOL (a small step alone could also mean a huge curvature, next to the rim).
# Rounding leaves Newton steps below ~1e-12 and gradients below ~1e-13 at the solutions
# (alpha_prune 0.25-64, keep fractions down to 1e-3, probe angles 0 and 10 degrees): the
# tolerances sit orders of magnitude above that noise, so the last bits cannot decide them,
# and the step that meets _RTOL is still taken, so the result is far more accurate.
_RTOL = 1e-8
_GTOL = 1e-6
_MAX_ITER = 100
_LOGPHI_MIN = math.log(1e-12)   # student at most this close to the teacher (error ~ 3e-13)
_MAX_MOVE = 1.0                 # largest step in log phi and in t (factors of e)


@dataclass(frozen=True)
class _Ascent:
    logphi: float
    t: float
    kappa: float
    converged: bool
    step: float
    iterations: int
    message: str


def _step_size(d: np.ndarray, x: np.ndarray) -> float:
    """How far a step (d log phi, d t) moves the unit student, relative to its angle phi to
    the teacher: sqrt(dphi^2 + sin(phi)^2 dpsi^2) / phi, to first order."""
    if len(d) == 1:
        return abs(float(d[0]))
    phi = math.exp(x[0])
    return math.hypot(d[0], math.sin(phi) / phi / math.cosh(x[1]) * d[1])


def _maximise_kappa(alpha: float, q: _Quadrature, logphi: float, t: float, kappa: float,
                    free_psi: bool) -> _Ascent:
    """Newton ascent of the margin kappa in (log phi, t) (t held at 0, rho = 0, unless
    ``free_psi``).

    kappa(R, rho) is concave on the unit disc, so its only stationary point inside is the
    maximum; the coordinates map the open disc (less R = 1) one to one, with the teacher and
    the rim S = 0 at infinite distance. In one dimension kappa is unimodal in phi: the sign
    of its derivative keeps a bracket, and a Newton step that leaves the bracket (or meets
    positive curvature) is replaced by bisection. In two, the Newton step (or, where the
    Hessian is not negative definite, the ascent direction of the Hessian with its
    eigenvalues made negative) is capped at _MAX_MOVE and cut back until kappa increases;
    the caps keep the iterates from jumping next to the rim, where kappa's derivatives blow
    up (no kept example near the margin)."""
    dims = 2 if free_psi else 1
    lo, hi = _LOGPHI_MIN, math.log(math.pi if free_psi else math.pi / 2)
    x = np.array([logphi, t])
    R, rho, S = _student(*x)
    kappa = _kappa_at(R, rho, alpha, q, start=kappa, S=S)
    step, gnorm = math.inf, math.inf
    for it in range(1, _MAX_ITER + 1):
        grad, hess, gnorm = _kappa_derivatives(x[0], x[1], kappa, alpha, q)
        g, H = grad[:dims], hess[:dims, :dims]
        lam, V = np.linalg.eigh(H)
        newton = bool(lam[-1] < 0)
        if newton:
            d = V @ ((V.T @ g) / -lam)
        else:
            d = V @ ((V.T @ g) / np.maximum(np.abs(lam), 1e-8 * max(1.0, np.abs(lam).max())))
        step = _step_size(d, x)
        if newton and step <= _RTOL and gnorm <= _GTOL:
            x[:dims] += d
            R, rho, S = _student(*x)
            kappa = _kappa_at(R, rho, alpha, q, start=kappa + float(g @ d), S=S)
            return _Ascent(x[0], x[1], kappa, True, step, it,
                           f"converged after {it} iterations: last Newton step {step:.2g} of "
                           f"the angle to the teacher, gradient {gnorm:.2g}")
        if dims == 1:
            if g[0] > 0:
                lo = x[0]
            else:
                hi = x[0]
            if hi - lo <= _RTOL:
                break
            trial = x[0] + d[0]
            if not (newton and lo < trial < hi):
                trial = 0.5 * (lo + hi)
            x[0] = trial
            R, rho, S = _student(*x)
            kappa = _kappa_at(R, rho, alpha, q, start=kappa, S=S)
            continue
        d = d / max(1.0, np.abs(d).max() / _MAX_MOVE)
        slope = float(g @ d)
        u, accepted = 1.0, False
        while u > 1e-12:
            trial = x + u * d
            if trial[0] < math.log(math.pi):
                R, rho, S = _student(*trial)
                if S > 0:
                    k_trial = _kappa_at(R, rho, alpha, q, start=kappa + u * slope, S=S)
                    # Armijo, with an allowance for rounding in kappa near the top
                    if k_trial >= kappa + 1e-4 * u * slope - 4e-16 * max(1.0, abs(kappa)):
                        accepted = True
                        break
            u *= 0.5
        if not accepted:
            return _Ascent(x[0], x[1], kappa, False, step, it,
                           f"not converged: no ascent along the search direction after {it} "
                           f"iterations (last step {step:.2g} of the angle to the teacher, "
                           f"gradient {gnorm:.2g})")
        x, kappa = trial, k_trial
    where = ""
    if dims == 1 and hi - lo <= _RTOL:
        where = ", the bracket closed on a bound"
    elif dims == 2 and 1.0 / math.cosh(x[1]) < 1e-4:
        where = ", heading for the rim S = 0 (student in the teacher-probe plane)"
    return _Ascent(x[0], x[1], kappa, False, step, it,
                   f"not converged after {it} iterations (last step {step:.2g} of the angle "
                   f"to the teacher, gradient {gnorm:.2g}{where})")


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
    """Solve the replica equations for the max-margin student on pruned data.

    ``converged`` is False (with a :class:`ConvergenceWarning`) when the Newton ascent did
    not meet its tolerance; ``message`` and ``residual`` then say how far it got."""
    _check(alpha_prune, keep_fraction, keep, probe_angle)
    alpha = float(alpha_prune)
    # Angles keep the student on the unit sphere and resolve small errors: R = cos(phi),
    # rho = sin(phi) cos(psi), sqrt(S) = sin(phi) sin(psi), and the error is phi / pi
    # (see _student). With a perfect probe (or no pruning) rho = 0 by symmetry: maximise
    # kappa(phi) in 1-D, from about the unpruned error 0.5 / alpha.
    q0 = _quadrature(keep_fraction, keep, 0.0)
    start = math.log(math.pi * min(0.25, 0.5 / alpha))
    sol = _maximise_kappa(alpha, q0, start, 0.0, 0.0, free_psi=False)
    if probe_angle > 0.0 and keep_fraction < 1.0:
        # the perfect probe's solution starts the 2-D ascent
        q = _quadrature(keep_fraction, keep, probe_angle)
        sol = _maximise_kappa(alpha, q, sol.logphi, 0.0, sol.kappa, free_psi=True)
    if not sol.converged:
        warnings.warn(f"pruned_max_margin_theory(alpha_prune={alpha:g}, keep_fraction="
                      f"{keep_fraction:g}, keep={keep!r}, probe_angle={probe_angle:g}): "
                      f"{sol.message}", ConvergenceWarning, stacklevel=2)
    phi = math.exp(sol.logphi)
    R, rho, _ = _student(sol.logphi, sol.t)
    return PruningTheory(alpha_prune=alpha, keep_fraction=float(keep_fraction), keep=keep,
                         probe_angle=float(probe_angle), error=phi / math.pi, overlap=R,
                         probe_overlap=rho, margin=sol.kappa, converged=sol.converged,
                         residual=sol.step, message=sol.message)


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
