"""Zhang et al. 2024 (How Does Critical Batch Size Scale in Pre-training?): the
measurements and fitted numbers in the authors' plotting notebook
``plots/chinchilla.ipynb`` (repository ``hlzhang109/critical-batch-size``).

The notebook queries the authors' training logs (wandb) in cell 1 and then types the
result into cell 5 as a Python literal, which that cell fits:

- cell 1: ``goal_steps`` (dict literal: model -> the Chinchilla step budget at the
  reference batch, about 20 tokens per parameter), ``goal_losses`` (the target
  validation loss per model) and the run filter, which holds the context length
  (``config.model.max_sequence_length``);
- cell 2, first printed line: the measurements as the log query returned them;
- cell 5: ``results`` (dict literal: model -> steps to reach the target loss at each
  batch size), ``scaling_law_model_sizes`` (millions of parameters), ``model_size_names``,
  ``batch_sizes`` (a list comprehension ``[2**i for i in range(6, 15)]``), the
  critical-batch rule (an ``fsolve`` of a lambda that is linear in the batch), and, in
  its printed output, the authors' fitted numbers.

Nothing is executed: sources are read with :mod:`ast` (literals with
:func:`ast.literal_eval`, the batch-size comprehension and the lambda with a small
evaluator that knows numbers, names bound by the caller and + - * / **), and outputs
with regular expressions.

    from scalinglab.data import published, critical_batch
    nb = critical_batch.read_notebook(published.fetch("critical_batch_chinchilla_notebook"))
    steps = critical_batch.steps_table(nb)      # model, N_millions, batch, steps
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
from typing import Any, Callable, Mapping

SETUP_CELL = 1    # goal_steps, goal_losses, run filter
QUERY_CELL = 2    # prints the queried measurements (first line)
FIT_CELL = 5      # results literal, the two-stage fit and its printed numbers

_NUM = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"


def read_notebook(path: str | os.PathLike) -> dict[str, Any]:
    """The notebook's JSON (a dict with ``cells``)."""
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError(f"{path}: not a Jupyter notebook (no 'cells')")
    return nb


def cell_source(nb: Mapping[str, Any], index: int) -> str:
    src = nb["cells"][index]["source"]
    return src if isinstance(src, str) else "".join(src)


def cell_output_text(nb: Mapping[str, Any], index: int) -> str:
    """The text of a cell's stdout stream outputs, joined."""
    parts = []
    for out in nb["cells"][index].get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name", "stdout") == "stdout":
            text = out.get("text", "")
            parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


# ----------------------------------------------------------------------------------
# A tiny arithmetic evaluator (no names but those given, no calls but range/list comp)
# ----------------------------------------------------------------------------------
_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y, ast.Div: lambda x, y: x / y,
    ast.Pow: lambda x, y: x ** y,
}


def arithmetic(node: ast.AST, names: Mapping[str, float] | None = None) -> float:
    """Value of an expression made of numbers, the given names, unary minus and
    + - * / **; anything else is refused (ValueError)."""
    names = names or {}
    if isinstance(node, ast.Expression):
        return arithmetic(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = arithmetic(node.operand, names)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](arithmetic(node.left, names), arithmetic(node.right, names))
    raise ValueError(f"not plain arithmetic: {ast.dump(node)[:80]}")


def _assigned(source: str) -> dict[str, ast.AST]:
    """Top-level ``name = <expr>`` assignments of a cell (the last one wins)."""
    out: dict[str, ast.AST] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _power_comprehension(node: ast.AST) -> list[int]:
    """``[base**i for i in range(lo, hi)]`` -> its values (the only comprehension read)."""
    if not (isinstance(node, ast.ListComp) and len(node.generators) == 1):
        raise ValueError("batch sizes are not a one-loop list comprehension")
    gen = node.generators[0]
    if not (isinstance(gen.target, ast.Name) and isinstance(gen.iter, ast.Call)
            and isinstance(gen.iter.func, ast.Name) and gen.iter.func.id == "range"
            and not gen.ifs and not gen.iter.keywords):
        raise ValueError("batch sizes: expected 'for i in range(...)'")
    bounds = [int(arithmetic(a)) for a in gen.iter.args]
    return [int(arithmetic(node.elt, {gen.target.id: i})) for i in range(*bounds)]


def _literal(assigned: Mapping[str, ast.AST], name: str) -> Any:
    if name not in assigned:
        raise ValueError(f"cell assigns no {name!r}")
    return ast.literal_eval(assigned[name])


# ----------------------------------------------------------------------------------
# Cell 5: measurements and the critical-batch rule
# ----------------------------------------------------------------------------------
def fit_cell_data(source: str) -> dict[str, Any]:
    """From the fit cell's source: ``results`` (model -> steps per batch size),
    ``model_size_names``, ``scaling_law_model_sizes`` (millions) and ``batch_sizes``."""
    assigned = _assigned(source)
    data = {
        "results": _literal(assigned, "results"),
        "model_size_names": _literal(assigned, "model_size_names"),
        "scaling_law_model_sizes": _literal(assigned, "scaling_law_model_sizes"),
    }
    if "batch_sizes" not in assigned:
        raise ValueError("cell assigns no 'batch_sizes'")
    node = assigned["batch_sizes"]
    data["batch_sizes"] = (_power_comprehension(node) if isinstance(node, ast.ListComp)
                           else ast.literal_eval(node))
    names, sizes, batches = data["model_size_names"], data["scaling_law_model_sizes"], data["batch_sizes"]
    if len(names) != len(sizes):
        raise ValueError(f"{len(names)} model names but {len(sizes)} model sizes")
    for name in names:
        if name not in data["results"]:
            raise ValueError(f"results has no row for model {name!r}")
        if len(data["results"][name]) != len(batches):
            raise ValueError(f"model {name!r}: {len(data['results'][name])} step counts for "
                             f"{len(batches)} batch sizes")
    return data


def cbs_rule(source: str) -> dict[str, float]:
    """The critical-batch rule of the fit cell: the lambda handed to ``fsolve``,
    ``f(cbs; a, b, alpha)``, read at ``alpha = 1`` where it is linear in ``cbs``. Returns
    ``divisor`` and ``shift`` with ``cbs = b / (divisor·a) + shift`` (the authors':
    divisor 5, shift 1.2·256)."""
    lambdas = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "fsolve" and node.args and isinstance(node.args[0], ast.Lambda)]
    if len(lambdas) != 1:
        raise ValueError(f"expected one fsolve(lambda ...) call, found {len(lambdas)}")
    lam = lambdas[0].args[0]
    arg = lam.args.args[0].arg

    def f(cbs: float, a: float, b: float) -> float:
        return float(arithmetic(lam.body, {arg: cbs, "a": a, "b": b, "alpha": 1.0}))

    slope = f(1.0, 1.0, 0.0) - f(0.0, 1.0, 0.0)          # d f / d cbs at a = 1
    b_coef = f(0.0, 1.0, 1.0) - f(0.0, 1.0, 0.0)         # d f / d b
    if not (slope < 0 and b_coef > 0):
        raise ValueError("the fsolve rule is not of the form b - k·a·cbs + c = 0")
    # check linearity in cbs and b (so the closed form is the rule, not an approximation)
    if not math.isclose(f(2.0, 1.0, 0.0) - f(1.0, 1.0, 0.0), slope, rel_tol=1e-12) or \
            not math.isclose(f(0.0, 1.0, 3.0) - f(0.0, 1.0, 0.0), 3 * b_coef, rel_tol=1e-12):
        raise ValueError("the fsolve rule is not linear in cbs and b at alpha = 1")
    return {"divisor": -slope / b_coef, "shift": f(0.0, 1.0, 0.0) / -slope}


# ----------------------------------------------------------------------------------
# Cell 5: the printed numbers
# ----------------------------------------------------------------------------------
def printed_fits(text: str) -> dict[str, Any]:
    """The authors' fitted numbers in the fit cell's printed output:

    - ``stage1``: model -> ``{"a", "b", "cbs"}`` (``log(Y) = log(a + b·B^-1)`` and the
      critical batch size the rule gives);
    - ``linear``: ``{"coefficient", "exponent"}`` of ``cbs = d·N^beta`` fitted to the CBS
      values in linear space (zero offset);
    - ``log``: the same fitted to log CBS (zero offset, log-scale).
    """
    stage1: dict[str, dict[str, float]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"Model Size: (\S+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(rf"fitted log\(Y\) = log\(({_NUM}) \+ ({_NUM}) \* batch_size\^\(-1\)\)", line)
        if m and current:
            stage1.setdefault(current, {}).update(a=float(m.group(1)), b=float(m.group(2)))
            continue
        m = re.match(rf"Critical batch size: ({_NUM})", line)
        if m and current:
            stage1.setdefault(current, {})["cbs"] = float(m.group(1))
    lin = re.search(rf"\(zero offset\): fitted cbs = ({_NUM}) \* model_size\^\(({_NUM})\)", text)
    log = re.search(rf"\(zero offset, log-scale\): fitted log\(cbs\) = log\(({_NUM}) \* "
                    rf"model_size\^\(({_NUM})\)\)", text)
    if not stage1 or lin is None or log is None:
        raise ValueError("printed output lacks the stage-1 fits or the zero-offset CBS fits")
    return {"stage1": stage1,
            "linear": {"coefficient": float(lin.group(1)), "exponent": float(lin.group(2))},
            "log": {"coefficient": float(log.group(1)), "exponent": float(log.group(2))}}


# ----------------------------------------------------------------------------------
# Cell 1: the token budget; cell 2: the queried measurements
# ----------------------------------------------------------------------------------
def setup_cell_data(source: str) -> dict[str, Any]:
    """From the setup cell: ``goal_steps``, ``goal_losses`` (dict literals) and
    ``sequence_length`` (the value the run filter requires of
    ``config.model.max_sequence_length``)."""
    assigned = _assigned(source)
    out = {"goal_steps": _literal(assigned, "goal_steps"),
           "goal_losses": _literal(assigned, "goal_losses")}
    lengths = {node.values[i].value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Dict)
               for i, key in enumerate(node.keys)
               if isinstance(key, ast.Constant) and key.value == "config.model.max_sequence_length"
               and isinstance(node.values[i], ast.Constant)}
    if len(lengths) != 1:
        raise ValueError(f"expected one max_sequence_length in the run filter, found {sorted(lengths)}")
    out["sequence_length"] = int(lengths.pop())
    return out


def queried_results(text: str) -> dict[str, list[float]]:
    """The first printed line of the query cell: the dict of steps as the log query
    returned them (before the values were typed into the fit cell)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    value = ast.literal_eval(first)
    if not isinstance(value, dict):
        raise ValueError("the query cell's first printed line is not a dict")
    return value


# ----------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------
def steps_table(nb: Mapping[str, Any]):
    """Long table of the fit cell's measurements: ``model`` (the notebook's name),
    ``N_millions``, ``batch`` (sequences), ``steps`` (to the target loss)."""
    import pandas as pd
    data = fit_cell_data(cell_source(nb, FIT_CELL))
    rows = [{"model": name, "N_millions": float(size), "batch": int(batch), "steps": float(steps)}
            for name, size in zip(data["model_size_names"], data["scaling_law_model_sizes"])
            for batch, steps in zip(data["batch_sizes"], data["results"][name])]
    return pd.DataFrame(rows)


def models_table(nb: Mapping[str, Any], reference_batch: int):
    """One row per model: ``model``, ``N_millions``, ``goal_loss``, ``goal_steps`` (the
    step budget at ``reference_batch`` sequences), ``sequence_length`` and ``tokens`` =
    goal_steps · reference_batch · sequence_length."""
    import pandas as pd
    data = fit_cell_data(cell_source(nb, FIT_CELL))
    setup = setup_cell_data(cell_source(nb, SETUP_CELL))
    rows = []
    for name, size in zip(data["model_size_names"], data["scaling_law_model_sizes"]):
        if name not in setup["goal_steps"]:
            raise ValueError(f"goal_steps has no entry for model {name!r}")
        steps = setup["goal_steps"][name]
        rows.append({"model": name, "N_millions": float(size), "goal_loss": float(setup["goal_losses"][name]),
                     "goal_steps": int(steps), "sequence_length": setup["sequence_length"],
                     "tokens": float(steps) * reference_batch * setup["sequence_length"]})
    return pd.DataFrame(rows)


__all__ = ["read_notebook", "cell_source", "cell_output_text", "arithmetic", "fit_cell_data",
           "cbs_rule", "printed_fits", "setup_cell_data", "queried_results", "steps_table",
           "models_table", "SETUP_CELL", "QUERY_CELL", "FIT_CELL"]
