"""Muennighoff et al. 2023 (Scaling Data-Constrained Language Models): the training runs
typed inline in the datablations repository's ``utils/parametric_fit.ipynb``.

That notebook holds its data as Python literals in code cells: a dict
``NAMES_TO_VAL_LOSSES`` (run name -> final validation loss; 0 means unfinished),
``TOKENS_MAP`` and ``PARAMS_MAP`` (name fragments -> billions of tokens, parameters).
A run name encodes parameters, tokens seen and unique tokens, e.g. ``2b855b4b`` = 2.8B
parameters, 55B tokens, 4B unique. :func:`runs_from_notebook` reads one cell's literals
with :func:`ast.literal_eval` (no code is executed) and decodes the names exactly as the
notebook's own parsing cell does (cells 2 and 26 there).

    from scalinglab.data import published, muennighoff
    runs = muennighoff.runs_from_notebook(published.fetch("muennighoff_parametric_fit_notebook"))
"""
from __future__ import annotations

import ast
import json
import os
from typing import Any

# Cell 25 of utils/parametric_fit.ipynb: the runs the paper's data-constrained fit uses
# (182 after dropping zeros; "Custom data loading with outliers removed").
FIT_CELL = 25
_NAMES = ("NAMES_TO_VAL_LOSSES", "TOKENS_MAP", "PARAMS_MAP")


def cell_literals(source: str) -> dict[str, dict]:
    """The dict literals assigned to NAMES_TO_VAL_LOSSES, TOKENS_MAP and PARAMS_MAP in
    a cell's source (comments, i.e. commented-out runs, are dropped by the parser)."""
    out: dict[str, dict] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id in _NAMES:
            out[node.targets[0].id] = ast.literal_eval(node.value)
    missing = [n for n in _NAMES if n not in out]
    if missing:
        raise ValueError(f"cell has no literal for {', '.join(missing)}")
    return out


def _billions(fragment: str, tokens_map: dict) -> float:
    if fragment in tokens_map:
        return float(tokens_map[fragment])
    return float(fragment.replace("b", ".").strip("."))


def decode_name(name: str, tokens_map: dict, params_map: dict) -> tuple[float, float, float]:
    """(parameters, tokens, unique tokens) of a run name, as the notebook decodes it:
    the shortest prefix found in PARAMS_MAP is the size; the unique-token fragment is
    the last 3-4 characters holding a single unit letter; tokens lie between."""
    idx = 2
    while name[:idx] not in params_map:
        idx += 1
        if idx > len(name):
            raise ValueError(f"run name {name!r}: no parameter prefix in PARAMS_MAP")
    params = float(params_map[name[:idx]])
    end = -4 if (name[-1] in ("b", "m")) or (name[-1] not in ("b", "m") and name[-2] not in ("b", "m")) else -3
    ut = name[end:]
    while ut.count("b") > 1 or ut.count("m") > 1:
        end += 1
        ut = name[end:]
    unique = _billions(ut, tokens_map) * 1e9
    tokens = _billions(name[idx:end], tokens_map) * 1e9
    return params, tokens, unique


def runs_from_source(source: str) -> list[dict[str, Any]]:
    """Rows (name, N, D, U, loss) of one cell's runs; unfinished (loss 0) and ``dedup``
    runs are skipped, as the notebook does."""
    lit = cell_literals(source)
    rows = []
    for name, loss in lit["NAMES_TO_VAL_LOSSES"].items():
        if loss == 0 or name.endswith("dedup"):
            continue
        N, D, U = decode_name(name, lit["TOKENS_MAP"], lit["PARAMS_MAP"])
        rows.append({"name": name, "N": N, "D": D, "U": U, "loss": float(loss)})
    return rows


def notebook_cell_source(path: str | os.PathLike, cell: int) -> str:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    src = nb["cells"][cell]["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def runs_from_notebook(path: str | os.PathLike, cell: int = FIT_CELL):
    """The runs of one cell of parametric_fit.ipynb as a DataFrame (name, N, D, U, loss:
    parameters, tokens seen, unique tokens, final validation loss)."""
    import pandas as pd

    return pd.DataFrame(runs_from_source(notebook_cell_source(path, cell)))
