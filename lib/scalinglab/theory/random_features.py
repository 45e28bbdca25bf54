"""Closed-form learning curves of linear (random-feature) regression on Gaussian data.

Setting (see :mod:`scalinglab.models.random_features`): features F ~ N(0, C) with
eigenvalues lambda_i, a teacher y = w.F, and a least-squares student. Losses are
1/2 mean squared error, averaged over the teacher w ~ N(0, I/S) unless a target power
is given. Spectra follow the suite's convention lambda_i ~ i^-(1+alpha)
(:mod:`scalinglab.data.teacher_student`).

Three results are used:

1. Deterministic equivalent (kernel ridge regression with n samples, or, dually, the
   infinite-data loss with n random projections). With the effective ridge kappa
   solving  n = sum_i lambda_i / (lambda_i + kappa) + n * ridge / kappa  and the learned
   fractions L_i = lambda_i / (lambda_i + kappa), the test loss is

       L(n) = 1/2 * n / (n - sum_i L_i^2) * sum_i (1 - L_i)^2 v_i,

   where v_i is the teacher's power in direction i (v_i = lambda_i / S for the isotropic
   teacher). Without ridge and with the isotropic teacher this is kappa * n / (2 S): the
   same for Bahri et al.'s Eq. 1 (P projections, D = inf) and Eq. 2 (D samples, P = inf).

2. Power-law asymptote. For lambda_i = i^-(1+alpha), sum_i 1/(1 + kappa i^(1+alpha))
   ~ kappa^(-1/(1+alpha)) c with c = (pi/(1+alpha)) / sin(pi/(1+alpha)), so
   kappa = (c/n)^(1+alpha) and L(n) ~ c^(1+alpha) n^-alpha / (2 S): the exponent of the
   loss is alpha, in n = D and in n = P alike (alpha_D = alpha_P = alpha_K).

3. Variance-limited correction, exact for Gaussian features. With P < D - 1 student
   features, the residual of the best P-feature predictor is Gaussian and independent
   of those features, so least squares on D samples adds the classical excess
   sigma^2 P / (D - P - 1):  E L(D, P) = L(P) (D - 1) / (D - P - 1). The model is
   symmetric under D <-> P (the projection and the data enter the loss in transposed
   roles), so for P > D + 1:  E L(D, P) = L(D) (P - 1) / (P - D - 1). Both corrections
   fall as 1/D and 1/P: the variance-limited exponent is 1.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq


def _eigenvalues(eigenvalues: Any) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or np.any(~np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite numbers >= 0")
    return lam


def _check_size(name: str, n: Any) -> float:
    if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) or not n > 0:
        raise ValueError(f"{name}={n!r} must be a positive number")
    return float(n)


def effective_ridge(eigenvalues: Any, n: float, ridge: float = 0.0) -> float:
    """kappa solving n = sum_i lambda_i/(lambda_i + kappa) + n ridge / kappa.

    Without ridge, kappa = 0 when n reaches the number of non-zero eigenvalues (the
    student then resolves every direction)."""
    lam = _eigenvalues(eigenvalues)
    n = _check_size("n", n)
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or ridge < 0 or not math.isfinite(ridge):
        raise ValueError(f"ridge={ridge!r} must be a finite number >= 0")
    lam = lam[lam > 0]
    if ridge == 0 and n >= lam.size:
        return 0.0

    def excess(log_kappa: float) -> float:
        kappa = math.exp(log_kappa)
        return float(np.sum(lam / (lam + kappa))) + n * ridge / kappa - n

    lo = math.log(max(lam.min(), 1e-300)) - 60.0
    hi = math.log(lam.sum() + ridge + 1e-300) + 5.0
    if excess(lo) < 0:  # the equation holds only at kappa -> 0
        return 0.0
    return math.exp(brentq(excess, lo, hi, xtol=1e-14, rtol=1e-13, maxiter=500))


def learning_curve(eigenvalues: Any, n: float, target_power: Any = None, ridge: float = 0.0) -> float:
    """Deterministic-equivalent test loss (1/2 MSE) of ridge regression on ``n`` samples
    (or, dually, of ``n`` random projections with infinite data).

    target_power: the teacher's power v_i in each eigendirection; default the isotropic
    teacher w ~ N(0, I/S), v_i = lambda_i / S."""
    lam = _eigenvalues(eigenvalues)
    n = _check_size("n", n)
    v = lam / lam.size if target_power is None else np.asarray(target_power, dtype=float)
    if v.shape != lam.shape:
        raise ValueError(f"target_power must have shape {lam.shape}, got {v.shape}")
    kappa = effective_ridge(lam, n, ridge)
    if kappa == 0.0:
        return 0.5 * float(np.sum(v[lam == 0]))
    learned = lam / (lam + kappa)
    overfit = n / (n - float(np.sum(learned ** 2)))
    return 0.5 * overfit * float(np.sum((1.0 - learned) ** 2 * v))


def ridgeless_loss(eigenvalues: Any, n: float) -> float:
    """Bahri et al. Eq. 1 (n = P) or Eq. 2 (n = D), isotropic teacher, deterministic
    equivalent: kappa n / (2 S)."""
    lam = _eigenvalues(eigenvalues)
    return 0.5 * effective_ridge(lam, n) * _check_size("n", n) / lam.size


def power_law_constant(alpha: float) -> float:
    """c^(1+alpha) with c = (pi/(1+alpha)) / sin(pi/(1+alpha)): the prefactor of the
    ridgeless power-law asymptote (see :func:`power_law_asymptote`)."""
    if not (isinstance(alpha, (int, float)) and alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha={alpha!r} must be a positive number")
    a = 1.0 + alpha
    c = (math.pi / a) / math.sin(math.pi / a)
    return c ** a


def power_law_asymptote(alpha: float, n: Any, dim: int, scale: float = 1.0) -> np.ndarray:
    """Large-n loss for lambda_i = scale i^-(1+alpha), i <= dim (dim >> n), isotropic
    teacher: scale c^(1+alpha) n^-alpha / (2 dim)."""
    n = np.asarray(n, dtype=float)
    if np.any(n <= 0):
        raise ValueError("sizes n must be positive")
    return scale * power_law_constant(alpha) * n ** -float(alpha) / (2.0 * dim)


def variance_factor(small: float, large: float) -> float:
    """(large - 1)/(large - small - 1): the exact inflation of the loss when the scarcer
    resource is ``small`` and the other is finite (``large = inf``: 1)."""
    small, large = _check_size("small", small), _check_size("large", large)
    if math.isinf(large):
        return 1.0
    if large - small - 1 <= 0:
        return math.inf
    return (large - 1) / (large - small - 1)


def linear_rf_learning_curve(eigenvalues: Any, n_features: float, n_samples: float) -> float:
    """E L(D, P) of the linear random-feature teacher–student model (min-norm readout):
    L_inf(min(D, P)) * variance_factor(min, max), with L_inf the deterministic
    equivalent. ``inf`` is allowed for either size; D = P (+-1) is the interpolation
    peak, returned as inf."""
    P, D = _check_size("n_features", n_features), _check_size("n_samples", n_samples)
    small, large = min(P, D), max(P, D)
    if math.isinf(small):
        return 0.0
    return ridgeless_loss(eigenvalues, small) * variance_factor(small, large)
