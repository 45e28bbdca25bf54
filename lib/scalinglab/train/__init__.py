"""Training: the run function of the sweeps, its learning-rate schedules and evaluation.

    from scalinglab.train import train_run, code_version
    record = train_run({"n_layer": 2, "d_model": 64, "tokens": 1_000_000, "device": "cpu"})

Submodules load on first use (``import scalinglab.train`` does not import torch).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "train_run": "trainer", "resolve_config": "trainer", "evaluate": "trainer",
    "code_version": "trainer", "load_data": "trainer", "DEFAULTS": "trainer",
    "eval_steps": "trainer",
    "lr_multiplier": "schedules", "SCHEDULES": "schedules",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
