"""Teacher-student perceptrons, the max-margin student, and margin-based data pruning
(the solvable model of Sorscher et al. 2022, "Beyond neural scaling laws").

A teacher T in R^N labels Gaussian inputs x ~ N(0, I_N) by y = sign(T . x). A probe
J_probe (the teacher itself, or a direction at angle theta from it) scores each example
by its margin |J_probe . x| / |J_probe|: small margins are hard examples, large ones easy.
Pruning keeps a fraction f of a pool of P = alpha_tot N examples, the hardest or the
easiest, leaving alpha_prune = f alpha_tot examples per dimension. A student J is then the
max-margin separator of the kept data, and its test error is

    eps = arccos(R) / pi,        R = J . T / (|J| |T|).

The max-margin solver is exact. With z_i = y_i x_i, the widest-margin direction through
the origin is the minimum-norm point of the convex hull of the z_i (by minimax duality,
max_{|w|=1} min_i w.z_i = min_{lambda in simplex} |Z^T lambda|). That point is one
non-negative least-squares problem,

    min_{a >= 0} |Z^T a|^2 + (1 - sum(a))^2,

whose solution is a = s lambda* for the hull's min-norm weights lambda* and some s > 0
(for fixed s the objective is minimised by lambda*), so w = Z^T a points the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

KEEP = ("hard", "easy")


@dataclass(frozen=True)
class MaxMarginResult:
    """The max-margin direction ``w`` (unit norm), its margin min_i y_i w.x_i, and the
    indices of the support vectors (examples with weight in the dual solution)."""

    w: np.ndarray
    margin: float
    support: np.ndarray
    converged: bool


def teacher_student_data(n_dim: int, n_samples: int, rng: np.random.Generator,
                         teacher: np.ndarray | None = None):
    """(X, y, teacher): Gaussian inputs labelled by a random (or given) teacher."""
    if n_dim < 1 or n_samples < 0:
        raise ValueError("n_dim must be >= 1 and n_samples >= 0")
    if teacher is None:
        teacher = rng.standard_normal(n_dim)
    teacher = np.asarray(teacher, dtype=float)
    if teacher.shape != (n_dim,):
        raise ValueError(f"teacher must have shape ({n_dim},), got {teacher.shape}")
    X = rng.standard_normal((n_samples, n_dim))
    y = np.where(X @ teacher >= 0, 1.0, -1.0)
    return X, y, teacher


def probe_at_angle(teacher: np.ndarray, theta: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at angle ``theta`` (radians) from the teacher, in a random direction."""
    if not 0.0 <= theta <= np.pi:
        raise ValueError(f"theta={theta} must lie in [0, pi] radians")
    t = teacher / np.linalg.norm(teacher)
    if theta == 0.0:
        return t.copy()
    v = rng.standard_normal(t.size)
    v -= (v @ t) * t
    v /= np.linalg.norm(v)
    return np.cos(theta) * t + np.sin(theta) * v


def prune_by_margin(X: np.ndarray, probe: np.ndarray, keep_fraction: float,
                    keep: str = "hard") -> np.ndarray:
    """Indices of the kept examples: the fraction with the smallest probe margin
    (``keep="hard"``) or the largest (``keep="easy"``)."""
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r} is not one of {', '.join(KEEP)}")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction={keep_fraction} must lie in (0, 1]")
    n_keep = int(round(keep_fraction * X.shape[0]))
    margin = np.abs(X @ probe) / np.linalg.norm(probe)
    order = np.argsort(margin, kind="stable")
    if keep == "easy":
        order = order[::-1]
    return np.sort(order[:n_keep])


def max_margin(X: np.ndarray, y: np.ndarray) -> MaxMarginResult:
    """The hard-margin separator through the origin of linearly separable (X, y)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (P, N) and y (P,), got {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("max_margin needs at least one example")
    if not np.all(np.abs(y) == 1):
        raise ValueError("labels must be +1 or -1")
    Z = X * y[:, None]
    A = np.vstack([Z.T, np.ones(Z.shape[0])])
    b = np.zeros(A.shape[0])
    b[-1] = 1.0
    converged = True
    try:
        a, _ = nnls(A, b, maxiter=50 * A.shape[1])
    except RuntimeError:  # iteration limit of the active-set method
        converged = False
        a, _ = nnls(A, b, maxiter=500 * A.shape[1])
    w = Z.T @ a
    norm = np.linalg.norm(w)
    if norm <= 1e-12 * max(1.0, np.abs(Z).max()):
        raise ValueError("the data are not linearly separable through the origin")
    w = w / norm
    margin = float(np.min(Z @ w))
    if margin <= 0:
        raise ValueError("the data are not linearly separable through the origin")
    return MaxMarginResult(w=w, margin=margin, support=np.nonzero(a > 0)[0], converged=converged)


def generalisation_error(student: np.ndarray, teacher: np.ndarray) -> float:
    """arccos(R) / pi: the probability that student and teacher disagree on a Gaussian x."""
    R = float(student @ teacher / (np.linalg.norm(student) * np.linalg.norm(teacher)))
    return float(np.arccos(np.clip(R, -1.0, 1.0)) / np.pi)


def pruned_student_error(n_dim: int, alpha_prune: float, keep_fraction: float, *,
                         keep: str = "hard", probe_angle: float = 0.0,
                         rng: np.random.Generator) -> float:
    """Test error of the max-margin student trained on a pruned pool.

    The pool has alpha_prune / keep_fraction * n_dim examples; the probe is at
    ``probe_angle`` radians from the teacher; ``keep_fraction`` of the pool is kept."""
    if alpha_prune <= 0:
        raise ValueError(f"alpha_prune={alpha_prune} must be > 0")
    n_keep = int(round(alpha_prune * n_dim))
    n_pool = int(round(n_keep / keep_fraction))
    X, y, teacher = teacher_student_data(n_dim, n_pool, rng)
    probe = probe_at_angle(teacher, probe_angle, rng)
    kept = prune_by_margin(X, probe, n_keep / n_pool, keep)
    student = max_margin(X[kept], y[kept])
    return generalisation_error(student.w, teacher)


def pruning_run(config: dict) -> dict:
    """One simulated pruning experiment as a sweep run (see :func:`scalinglab.sweep.run_sweep`).

    config: ``n_dim``, ``alpha_prune``, ``keep_fraction``, ``keep`` ("hard" | "easy"),
    ``probe_angle_deg`` and ``seed``. The seed alone fixes the teacher and the pool, so
    keep-hard and keep-easy runs with equal seed and pool size prune the same examples."""
    rng = np.random.default_rng(int(config["seed"]))
    error = pruned_student_error(int(config["n_dim"]), float(config["alpha_prune"]),
                                 float(config["keep_fraction"]), keep=str(config["keep"]),
                                 probe_angle=float(np.radians(config["probe_angle_deg"])), rng=rng)
    return {"metrics": {"error": error}}
