"""Models and their parameter/FLOP counts.

Submodules are imported on first use, so ``import scalinglab.models`` stays cheap and
modules added beside these (random features, perceptrons, ...) load only when asked for:

    from scalinglab.models import GPT, GPTConfig, MLP, MLPConfig
    from scalinglab.models.counting import gpt_param_counts, chinchilla_flops_per_token
"""
from __future__ import annotations

import importlib

_LAZY = {
    "GPT": "gpt", "GPTConfig": "gpt",
    "MLP": "mlp", "MLPConfig": "mlp",
    "ParamCounts": "counting", "count_parameters": "counting", "gpt_param_counts": "counting",
    "kaplan_params": "counting", "gpt_flops_per_token": "counting",
}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
