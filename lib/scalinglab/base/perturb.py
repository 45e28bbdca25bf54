"""A deliberate, tiny floating-point perturbation, for stability checks only.

``SCALINGLAB_PERTURB=eps`` (e.g. ``1e-9``) multiplies the targets given to the fit
engine, and ``SCALINGLAB_PERTURB_WEIGHTS=eps`` the initial weights of trained models,
by ``(1 + eps * z)``, with ``z``
standard normal from a private generator seeded from a tag. It stands in for what
another BLAS kernel, CPU or thread count does to the last bits of a computation: a
printed number that moves under it is not determined to the digits shown.
``scalinglab golden-check`` sets it; nothing else should.

This module sits in the base layer (:mod:`scalinglab.base`, like ``paths`` and
``profiles``): the fitters and the trainer import it, so it imports only ``profiles``.
Unset or 0 costs one environment lookup and returns the input unchanged.
"""
from __future__ import annotations

import hashlib

from scalinglab.base.profiles import env_number

ENV = "SCALINGLAB_PERTURB"
# Initial weights have their own switch: a short training run is chaotic in its last
# digits (a 1e-7 change of the initial weights moves a ci run's loss in the third
# decimal), so the ci profile pins the arithmetic instead (one thread, deterministic
# algorithms, one vector width: :func:`scalinglab.repro.notebook.configure_torch`), and
# this perturbation only shows how far training-derived digits would move without it.
WEIGHTS_ENV = "SCALINGLAB_PERTURB_WEIGHTS"
MAX_EPS = 1e-3  # a perturbation of the last bits, not of the data


def perturbation(env: str = ENV) -> float:
    """The relative perturbation ``eps`` from ``SCALINGLAB_PERTURB`` (or another
    variable, ``env``), 0.0 when unset."""
    return env_number(env, float, default=0.0, minimum=0.0, maximum=MAX_EPS)


def seed_from_tag(tag: str) -> int:
    """A 63-bit seed derived from ``tag`` (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "little") >> 1


def perturb(values, tag: str):
    """``values * (1 + eps * z)`` as a new float array, or ``values`` itself when eps is 0.

    ``z`` comes from ``np.random.default_rng(seed_from_tag(tag))``; the global random
    state is not touched. For float32 and narrower arrays eps is raised to the dtype's
    machine epsilon, else the product would round back to the input."""
    eps = perturbation()
    if eps == 0.0:
        return values
    import numpy as np
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(float)
    scale = max(eps, float(np.finfo(arr.dtype).eps))
    z = np.random.default_rng(seed_from_tag(tag)).standard_normal(arr.shape)
    return (arr * (1.0 + scale * z)).astype(arr.dtype, copy=False)
