"""Teacher–student data: power-law spectra, Gaussian latent features with a linear
teacher, and inputs of a given intrinsic dimension.

Spectral exponent convention (one for the whole suite)
------------------------------------------------------
A spectrum is written by its *loss exponent* ``alpha``:

    lambda_i = scale * i^-(1 + alpha),   i = 1, 2, ..., dim

so that the tail mass beyond rank n, and with it the loss of a model that resolves n
directions, falls as n^-alpha. The eigenvalues themselves decay with exponent
``1 + alpha`` (:func:`spectrum_decay`). Both papers modelled here write it this way:

| paper                   | symbol   | spectrum written as            | loss exponent alpha |
|-------------------------|----------|--------------------------------|---------------------|
| Bahri et al. 2021, Eq. 3 | alpha_K  | lambda_i = i^-(1+alpha_K)      | alpha_K             |
| Maloney et al. 2022     | alpha    | lambda_I = lambda_+ I^-(1+alpha) | alpha             |

A measured spectrum is turned into this ``alpha`` by :func:`spectrum_alpha` (decay
exponent of the eigenvalues over a rank window, minus one); never compare a raw decay
exponent with a loss exponent.

Generators
----------
* :class:`PowerLawLatent`: Gaussian features x in R^dim, independent coordinates of
  variance lambda_i (the eigenbasis; a rotation changes nothing for the rotation-invariant
  models here), and linear teachers y = w.x with w ~ N(0, I/dim). This is the teacher
  of Bahri et al. (Sec. 2.3: F(x) = sum_M omega_M F_M(x), omega ~ N(0, 1/S)) and the
  latent data model of Maloney et al.
* :func:`intrinsic_inputs`: inputs uniform on a d-dimensional cube, optionally embedded
  linearly in a larger ambient space (intrinsic dimension d either way).

The deep teacher–student experiment on these inputs (random tanh MLP teacher, ReLU MLP
student trained to near-interpolation) trains models, so it lives with the training
code: :func:`scalinglab.train.teacher_student.teacher_student_mlp_run`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


# ----------------------------------------------------------------------------------
# Exponent convention
# ----------------------------------------------------------------------------------
def spectrum_decay(alpha: float) -> float:
    """Decay exponent of the eigenvalues, ``1 + alpha``, for loss exponent ``alpha``."""
    _check_alpha(alpha)
    return 1.0 + float(alpha)


def loss_exponent(decay: float) -> float:
    """Loss exponent ``alpha = decay - 1`` of eigenvalues falling as i^-decay."""
    if not isinstance(decay, (int, float, np.floating)) or not math.isfinite(decay) or decay <= 1:
        raise ValueError(f"eigenvalue decay exponent {decay!r} must be a finite number > 1")
    return float(decay) - 1.0


def _check_alpha(alpha: Any) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
            or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"loss exponent alpha={alpha!r} must be a finite number > 0")


def _check_count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def power_law_spectrum(dim: int, alpha: float, scale: float = 1.0) -> np.ndarray:
    """Eigenvalues ``scale * i^-(1 + alpha)`` for i = 1..dim (float64, descending)."""
    dim = _check_count("dim", dim)
    _check_alpha(alpha)
    if not (isinstance(scale, (int, float, np.floating)) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale={scale!r} must be a positive number")
    return float(scale) * np.arange(1, dim + 1, dtype=float) ** -(1.0 + float(alpha))


def spectrum_alpha(eigenvalues: Any, lo: int, hi: int, *, bootstrap: int = 0, seed: int = 0):
    """The loss exponent alpha of a measured spectrum: minus the log-log slope of the
    eigenvalues (sorted, descending) against rank over ranks ``lo..hi`` (1-based,
    inclusive), minus one. Returns ``(alpha, interval or None, fit)``, where ``fit`` is
    the :func:`scalinglab.fit.loglog_slope` result it came from."""
    from scalinglab.fit import loglog_slope
    ev = np.sort(np.asarray(eigenvalues, dtype=float).ravel())[::-1]
    lo, hi = _check_count("lo", lo), _check_count("hi", hi)
    if not lo < hi <= ev.size:
        raise ValueError(f"rank window {lo}..{hi} must satisfy 1 <= lo < hi <= {ev.size}")
    window = ev[lo - 1:hi]
    if np.any(window <= 0):
        raise ValueError(f"eigenvalues in ranks {lo}..{hi} must be positive (the spectrum ends earlier)")
    ranks = np.arange(lo, hi + 1, dtype=float)
    fit = loglog_slope(ranks, window, bootstrap=bootstrap, seed=seed)
    alpha = -fit.params["slope"] - 1.0
    interval = None
    if "slope" in fit.intervals:
        s_lo, s_hi = fit.intervals["slope"]
        interval = (-s_hi - 1.0, -s_lo - 1.0)
    return alpha, interval, fit


# ----------------------------------------------------------------------------------
# Gaussian latent features with a power-law spectrum and linear teachers
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerLawLatent:
    """Gaussian features with covariance diag(scale * i^-(1+alpha)), i = 1..dim, and
    linear teachers y = w.x with w ~ N(0, I/dim).

    ``dim`` is S (teacher features) in Bahri et al. and M (latent dimension) in Maloney
    et al. Draw everything from one ``numpy.random.Generator`` so runs are reproducible."""

    dim: int
    alpha: float
    scale: float = 1.0

    def __post_init__(self):
        _check_count("dim", self.dim)
        _check_alpha(self.alpha)
        if not (isinstance(self.scale, (int, float)) and self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale={self.scale!r} must be a positive number")

    @property
    def eigenvalues(self) -> np.ndarray:
        return power_law_spectrum(self.dim, self.alpha, self.scale)

    def sample_inputs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws of x (n x dim)."""
        n = _check_count("n", n)
        return rng.standard_normal((n, self.dim)) * np.sqrt(self.eigenvalues)

    def standard_draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws of the whitened inputs g = x / sqrt(lambda) (n x dim, i.i.d. N(0, 1))."""
        n = _check_count("n", n)
        return rng.standard_normal((n, self.dim))

    def sample_teacher(self, rng: np.random.Generator, n_teachers: int | None = None) -> np.ndarray:
        """Teacher weights w ~ N(0, I/dim): a vector, or (dim x n_teachers) columns."""
        shape = (self.dim,) if n_teachers is None else (self.dim, _check_count("n_teachers", n_teachers))
        return rng.standard_normal(shape) / math.sqrt(self.dim)

    def target_variance(self) -> float:
        """E_w E_x[y^2] = sum(lambda) / dim: the loss of the zero predictor is half of it."""
        return float(self.eigenvalues.sum() / self.dim)

    def null_loss(self) -> float:
        """Teacher-averaged loss 1/2 E[y^2] of the predictor f = 0."""
        return 0.5 * self.target_variance()


# ----------------------------------------------------------------------------------
# Inputs of a given intrinsic dimension
# ----------------------------------------------------------------------------------
def intrinsic_inputs(n: int, d: int, rng: np.random.Generator, ambient: int | None = None) -> np.ndarray:
    """n points uniform on [-1, 1]^d; with ``ambient`` > d, mapped into R^ambient by a
    fixed random isometry (drawn from ``rng`` after the points), so the data still have
    intrinsic dimension d."""
    n, d = _check_count("n", n), _check_count("d", d)
    z = rng.uniform(-1.0, 1.0, size=(n, d))
    if ambient is None or ambient == d:
        return z
    ambient = _check_count("ambient", ambient)
    if ambient < d:
        raise ValueError(f"ambient={ambient} must be >= the intrinsic dimension d={d}")
    q, _ = np.linalg.qr(rng.standard_normal((ambient, d)))
    return z @ q.T
