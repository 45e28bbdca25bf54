"""Mu-scaling (Yao & Wang 2023, arXiv 2304.06875): the data inline in the fit script.

The official repository (``cofe-ai/Mu-scaling``, ``fit_scale_loss_prediction.py``, pinned
as ``mu_scaling_fit_script`` in ``data/remote.yaml``) holds its data as literal Python
lists at the top of the script: ``shapes`` (model widths), ``x`` (parameters in
millions) and ``train_loss`` (training loss at 20k steps), and the number of largest
models held out for prediction as ``num_pred``.

    from scalinglab.data import mu_scaling, published
    runs = mu_scaling.script_data(published.fetch("mu_scaling_fit_script").read_text())

The script is never executed: its text is parsed with :mod:`ast` and only top-level
assignments of literal values (numbers, lists of numbers) are read with
:func:`ast.literal_eval`. The parser knows nothing about where the text came from.
"""
from __future__ import annotations

import ast
import math
from typing import Any

import pandas as pd

# The script's variable names -> our column names.
COLUMNS = {"shapes": "width", "x": "params_M", "train_loss": "loss"}


class ScriptError(ValueError):
    """The text does not hold the data as expected (one-line message)."""


def literal_assignments(text: str) -> dict[str, Any]:
    """Every top-level ``name = <literal>`` in ``text`` (a literal as
    :func:`ast.literal_eval` accepts it); other statements are skipped, nothing is run.
    A name assigned twice keeps its last literal value."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ScriptError(f"not Python source: {exc.msg} (line {exc.lineno})") from None
    out: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        try:
            out[target.id] = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue  # not a literal (a call, an expression on other names): skipped
    return out


def _numbers(name: str, value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ScriptError(f"{name!r} is not a non-empty list of numbers")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ScriptError(f"{name!r} holds a value that is not a finite number: {v!r}")
        out.append(float(v))
    return out


def script_data(text: str) -> pd.DataFrame:
    """The models in the fit script as a DataFrame with columns ``width`` (d_model),
    ``params_M`` (parameters in millions, as the script gives them), ``N`` (parameters),
    ``loss`` (training loss at 20k steps) and ``held_out`` (True for the ``num_pred``
    largest models the script predicts rather than fits; all False when the script has
    no ``num_pred``), in the script's order (increasing size)."""
    found = literal_assignments(text)
    missing = [name for name in COLUMNS if name not in found]
    if missing:
        raise ScriptError(f"no literal list assigned to {', '.join(map(repr, missing))}")
    cols = {col: _numbers(name, found[name]) for name, col in COLUMNS.items()}
    lengths = {name: len(cols[col]) for name, col in COLUMNS.items()}
    if len(set(lengths.values())) != 1:
        raise ScriptError("lists of different lengths: "
                          + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    df = pd.DataFrame(cols)
    df["width"] = df["width"].astype(int)
    df["N"] = df["params_M"] * 1e6
    if (df["N"] <= 0).any() or (df["loss"] <= 0).any():
        raise ScriptError("parameters and losses must be positive")
    if not df["N"].is_monotonic_increasing:
        raise ScriptError("models are not in increasing order of size")
    num_pred = found.get("num_pred", 0)
    if isinstance(num_pred, bool) or not isinstance(num_pred, int) or not 0 <= num_pred < len(df):
        raise ScriptError(f"num_pred must be an integer in [0, {len(df)}), got {num_pred!r}")
    df["held_out"] = [i >= len(df) - num_pred for i in range(len(df))]
    return df[["width", "params_M", "N", "loss", "held_out"]]
