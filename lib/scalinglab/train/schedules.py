"""Learning-rate schedules, as a multiplier of the peak learning rate.

* ``cosine``   — linear warmup, then a half cosine from 1 down to ``min_ratio`` at the
  last step (Kaplan et al. 2020 decay to 0; Hoffmann et al. 2022 to 0.1).
* ``constant`` — linear warmup, then 1.
* ``wsd``      — warmup-stable-decay: linear warmup, constant, then a cooldown over the
  last ``cooldown`` fraction of the steps to ``min_ratio`` (Hu et al. 2024; Hägele et al.
  2024), linear or "1-sqrt" shaped.

``warmup`` is a number of steps when >= 1 and a fraction of the run when < 1.
"""
from __future__ import annotations

import math

SCHEDULES = ("cosine", "constant", "wsd")
COOLDOWN_SHAPES = ("linear", "1-sqrt")


def warmup_steps(warmup: float, total_steps: int) -> int:
    if warmup < 0:
        raise ValueError(f"warmup={warmup!r} must be >= 0")
    steps = int(round(warmup * total_steps)) if warmup < 1 else int(warmup)
    return min(steps, total_steps)


def lr_multiplier(step: int, total_steps: int, kind: str = "cosine", warmup: float = 0.0,
                  min_ratio: float = 0.1, cooldown: float = 0.2,
                  cooldown_shape: str = "linear") -> float:
    """Multiplier of the peak learning rate for optimiser step ``step`` (0-based) of
    ``total_steps``."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule {kind!r} is not one of {', '.join(SCHEDULES)}")
    if cooldown_shape not in COOLDOWN_SHAPES:
        raise ValueError(f"cooldown_shape {cooldown_shape!r} is not one of {', '.join(COOLDOWN_SHAPES)}")
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps!r} must be >= 1")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio={min_ratio!r} must be in [0, 1]")
    n_warm = warmup_steps(warmup, total_steps)
    if step < n_warm:
        return (step + 1) / n_warm
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        span = max(1, total_steps - 1 - n_warm)
        progress = min(1.0, (step - n_warm) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    # wsd
    if not 0.0 <= cooldown <= 1.0:
        raise ValueError(f"cooldown={cooldown!r} must be a fraction in [0, 1]")
    n_cool = int(round(cooldown * total_steps))
    start = total_steps - n_cool
    if n_cool == 0 or step < start:
        return 1.0
    progress = (step - start + 1) / n_cool  # reaches 1 at the last step
    decay = progress if cooldown_shape == "linear" else math.sqrt(progress)
    return 1.0 - (1.0 - min_ratio) * decay


__all__ = ["SCHEDULES", "COOLDOWN_SHAPES", "lr_multiplier", "warmup_steps"]
