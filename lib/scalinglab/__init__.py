"""scalinglab: reproduce neural scaling-law papers with a tested library.

The notebook entry point is :func:`scalinglab.start`, which validates a notebook's
parameters and returns a :class:`~scalinglab.repro.notebook.PaperRun` that picks the
profile's grid, saves figures, collects claims and writes the scorecard entry.
"""
from scalinglab.repro.profiles import PROFILES, ParameterError, resolve_device
from scalinglab.repro.notebook import PaperRun, start

__version__ = "0.1.0"
__all__ = ["PROFILES", "ParameterError", "PaperRun", "resolve_device", "start", "__version__"]
