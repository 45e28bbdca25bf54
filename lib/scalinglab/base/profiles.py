"""Profiles (how much compute a notebook may spend) and parameter validation."""
from __future__ import annotations

import os
from typing import Any, Iterable

PROFILES = ("ci", "cpu", "gpu")
DEVICES = ("auto", "cpu", "cuda", "mps")
EXECUTORS = ("local", "dask", "ray", "slurm")

# Budget per notebook, in seconds, as the design states it (ci on 2 cores, cpu on a
# 2-core laptop, gpu on one GPU). The runner reports notebooks that exceed it.
BUDGET_S = {"ci": 60, "cpu": 600, "gpu": 3600}


class ParameterError(ValueError):
    """A notebook or command parameter has a value that cannot be used.

    The message is one line that names the parameter, the value and what is allowed."""


def profile_rank(profile: str) -> int:
    check_choice("profile", profile, PROFILES)
    return PROFILES.index(profile)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name}={value!r} must be an integer")
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name}={value!r} must be >= {minimum}")
    return value


def check_number(name: str, value: Any, minimum: float | None = None,
                 maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name}={value!r} must be a number")
    if value != value:
        raise ParameterError(f"{name}={value!r} must not be NaN")
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name}={value!r} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"{name}={value!r} must be <= {maximum}")
    return float(value)


def env_number(name: str, kind: type = float, default: float = 0.0,
               minimum: float | None = None, maximum: float | None = None) -> float:
    """The number an environment variable holds (``default`` when unset or empty), of type
    ``kind`` (int or float) and within the bounds; ParameterError naming it otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ParameterError(f"{name}={raw!r} must be {'an integer' if kind is int else 'a number'}") from None
    if kind is int:
        return check_int(name, value, minimum=None if minimum is None else int(minimum))
    if value != value or value in (float("inf"), float("-inf")):
        raise ParameterError(f"{name}={raw!r} must be a finite number")
    return check_number(name, value, minimum=minimum, maximum=maximum)


def cuda_available() -> bool:
    try:
        import torch
        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken driver: treat as no GPU
        return False


def mps_available() -> bool:
    try:
        import torch
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    except Exception:
        return False


def default_profile() -> str:
    """``gpu`` when CUDA is available, else ``cpu`` (``SCALINGLAB_PROFILE`` overrides)."""
    env = os.environ.get("SCALINGLAB_PROFILE")
    if env:
        return check_choice("SCALINGLAB_PROFILE", env, PROFILES)
    return "gpu" if cuda_available() else "cpu"


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must be available."""
    check_choice("device", device, DEVICES)
    if device == "auto":
        if cuda_available():
            return "cuda"
        if mps_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not cuda_available():
        raise ParameterError("device='cuda' was asked for but no CUDA device is available")
    if device == "mps" and not mps_available():
        raise ParameterError("device='mps' was asked for but no MPS device is available")
    return device


def pick(profile: str, per_profile: dict[str, Any]) -> Any:
    """The entry of ``per_profile`` for ``profile``; a grid must name all three."""
    check_choice("profile", profile, PROFILES)
    missing = [p for p in PROFILES if p not in per_profile]
    if missing:
        raise ParameterError(f"the per-profile settings lack {', '.join(missing)}")
    return per_profile[profile]
