"""Cerebras-GPT (Dey et al. 2023, arXiv 2304.03208): the model card's evaluation table.

The official model card (``Cerebras/modelzoo``, ``.../configs/Cerebras_GPT/README.md``,
pinned as ``cerebras_gpt_model_card`` in ``data/remote.yaml``) holds a markdown table
"0-shot Evaluation" with, per model, the training FLOPs and the Pile test cross-entropy
(lines 132-169 at the pinned commit). A row whose first cell is blank belongs to the
family named above it.

    from scalinglab.data import cerebras, published
    table = cerebras.zero_shot_table(published.fetch("cerebras_gpt_model_card").read_text())
    standard = table[table.family == "Cerebras"]

The parser reads text only; it knows nothing about where the file came from.
"""
from __future__ import annotations

import math
import re

import pandas as pd

SECTION = "0-shot Evaluation"
SIZE_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)


class TableError(ValueError):
    """The text does not hold the table as expected (one-line message)."""


def parse_size(label: str) -> float:
    """A nominal model size such as "111M" or "1.3B" as a number of parameters."""
    m = _SIZE.match(label)
    if not m:
        raise TableError(f"not a model size: {label!r}")
    return float(m.group(1)) * SIZE_UNITS[m.group(2).upper()]


def _number(cell: str) -> float:
    """A numeric cell; a dash ("-", "\\-") or an empty cell is NaN."""
    text = cell.strip().replace("\\", "")
    if text in ("", "-", "—"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise TableError(f"not a number: {cell!r}") from None


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_tables(text: str) -> list[tuple[str, list[str]]]:
    """Every markdown table in ``text`` as (the nearest heading above it, its lines)."""
    tables, heading, current = [], "", None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            heading = s.lstrip("#").strip()
        if s.startswith("|"):
            if current is None:
                current = (heading, [])
                tables.append(current)
            current[1].append(s)
        else:
            current = None
    return tables


def zero_shot_table(text: str, section: str = SECTION) -> pd.DataFrame:
    """The evaluation table under the heading ``section`` as a DataFrame with columns
    ``family`` (carried down over blank cells), ``size`` (the label, e.g. "1.3B"),
    ``params`` (nominal, from the label), ``flops`` (training FLOPs), ``xent`` (Pile test
    cross-entropy, NaN where the card has a dash) and ``line`` (1-based line within the
    table, header = 1)."""
    found = [lines for heading, lines in markdown_tables(text) if heading == section]
    if not found:
        raise TableError(f"no table under a heading {section!r}")
    lines = found[0]
    header = _cells(lines[0])
    need = {"Model": None, "Count": None, "Training FLOPs": None, "PILE test xent": None}
    for key in need:
        if key not in header:
            raise TableError(f"the table has no column {key!r} (columns: {', '.join(header)})")
        need[key] = header.index(key)
    rows, family = [], None
    for i, line in enumerate(lines[1:], start=2):
        cells = _cells(line)
        if all(set(c) <= set("-: ") for c in cells):  # the separator row
            continue
        if len(cells) != len(header):
            raise TableError(f"table line {i} has {len(cells)} cells, the header {len(header)}")
        if cells[need["Model"]]:
            family = cells[need["Model"]]
        if family is None:
            raise TableError(f"table line {i} has no family above it")
        size = cells[need["Count"]]
        rows.append({"family": family, "size": size, "params": parse_size(size),
                     "flops": _number(cells[need["Training FLOPs"]]),
                     "xent": _number(cells[need["PILE test xent"]]), "line": i})
    return pd.DataFrame(rows)
