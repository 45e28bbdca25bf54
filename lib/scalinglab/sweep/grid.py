"""Sweep grids: lists of config dicts in a deterministic order."""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping

from scalinglab.sweep.cache import to_jsonable


def _axis_values(name: str, values: Any) -> list:
    # A string, a dict or a number is one fixed value; any other iterable is an axis.
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return [to_jsonable(values, name)]
    values = [to_jsonable(v, name) for v in values]
    if not values:
        raise ValueError(f"grid axis {name!r} has no values")
    return values


def grid(**axes: Any) -> list[dict]:
    """The Cartesian product of the axes, as a list of config dicts.

    The first axis varies slowest, the last fastest, in the order the axes are given:

        >>> grid(n_layer=[1, 2], seed=[0, 1])
        [{'n_layer': 1, 'seed': 0}, {'n_layer': 1, 'seed': 1}, {'n_layer': 2, 'seed': 0}, {'n_layer': 2, 'seed': 1}]

    A value that is not a list (a number, a string, a dict) is held fixed in every
    config. numpy numbers become Python numbers, so configs hash the same however the
    axis was made (``np.logspace``, ``range``, a list)."""
    names = list(axes)
    columns = [_axis_values(name, axes[name]) for name in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*columns)]


__all__ = ["grid"]
