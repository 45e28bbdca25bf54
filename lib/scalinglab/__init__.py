"""scalinglab: reproduce neural scaling-law papers with a tested library.

The notebook entry point is :func:`scalinglab.start`, which validates a notebook's
parameters and returns a :class:`~scalinglab.repro.notebook.PaperRun` that picks the
profile's grid, saves figures, collects claims and writes the scorecard entry.

The names below load on first use (PEP 562), so importing a subpackage such as
``scalinglab.fit`` does not import the notebook machinery (``scalinglab.repro``),
matplotlib or torch.
"""
import importlib as _importlib

from scalinglab.base import __version__

_LAZY = {
    "PROFILES": "scalinglab.base.profiles",
    "ParameterError": "scalinglab.base.profiles",
    "resolve_device": "scalinglab.base.profiles",
    "PaperRun": "scalinglab.repro.notebook",
    "start": "scalinglab.repro.notebook",
}

__all__ = ["PROFILES", "ParameterError", "PaperRun", "resolve_device", "start", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    public = {n for n in globals() if not n.startswith("_") or n.startswith("__")}
    return sorted((public | set(_LAZY)) - {"__getattr__", "__dir__"})
