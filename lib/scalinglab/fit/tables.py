"""Tables that put fits beside published parameter vectors.

    parameter_table({"ours": fit, "Epoch": EPOCH, "Hoffmann": HOFFMANN},
                    se={"Epoch": EPOCH_SE}, objective_on=fit)
    allocation_table({"ours": fit, "Hoffmann": HOFFMANN}, [1e21, 5.76e23])

Both return DataFrames of display strings (numbers to ``digits`` significant digits);
an interval that is not a result (bound-limited, see ``FitResult.interval``) reads
"bound-limited", never as digits.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from scalinglab.fit.laws import Law
from scalinglab.fit.optimal import compute_optimal
from scalinglab.fit.result import FitResult

Source = "FitResult | Mapping[str, float]"


def _fmt(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{float(x):.{digits}g}"


def _interval_text(iv: "tuple[float, float] | None", digits: int) -> str:
    return "bound-limited" if iv is None else f"[{iv[0]:.{digits}g}, {iv[1]:.{digits}g}]"


def _check_sources(sources: Mapping[str, Any], what: str) -> None:
    if not isinstance(sources, Mapping) or not sources:
        raise ValueError(f"{what} needs a mapping of label -> fit or parameter dict, e.g. {{'ours': fit}}")
    for label, src in sources.items():
        if not isinstance(src, (FitResult, Mapping)):
            raise ValueError(f"{what}: {label!r} must be a FitResult or a mapping of parameters, "
                             f"got {type(src).__name__}")


def bootstrap_se(fit: FitResult, name: str) -> float | None:
    """The bootstrap standard error of a parameter or derived quantity, None without a
    bootstrap or where its interval is not a result (bound-limited)."""
    if fit.samples is None or name not in fit.sample_names or fit.interval(name) is None:
        return None
    col = fit.samples[:, fit.sample_names.index(name)]
    col = col[np.isfinite(col)]
    return float(np.std(col, ddof=1)) if col.size > 1 else None


def _with_derived(params: Mapping[str, float], sources: Mapping[str, Any]) -> dict[str, float]:
    """A published vector with the quantities a fit's law derives from it (a and b of a
    Chinchilla vector), when some source is a fit of a law the vector is complete for."""
    law = next((s.law for s in sources.values() if isinstance(s, FitResult)), None)
    if law is None or any(n not in params and n not in law.fixed for n in law.names):
        return dict(params)
    return {**law.to_public(law.from_public(params)), **params}


def parameter_table(sources: Mapping[str, Any], *, names: Sequence[str] | None = None,
                    se: Mapping[str, Mapping[str, float]] | None = None,
                    objective_on: FitResult | None = None, show_se: bool = False,
                    digits: int = 4) -> pd.DataFrame:
    """One row per parameter, one column per source (a FitResult, or a published
    parameter dict). A fit adds a column with its interval at its level (and, with
    ``show_se``, its bootstrap standard error); ``se`` gives published standard errors
    by source label. ``objective_on``: a fit on whose data (objective, reduction,
    space) every source's vector is scored, as a last row "objective"."""
    _check_sources(sources, "parameter_table")
    se = dict(se or {})
    unknown = [k for k in se if k not in sources]
    if unknown:
        raise ValueError(f"parameter_table: se= names {', '.join(map(repr, unknown))}, not among the sources")
    if names is None:
        first = next(iter(sources.values()))
        names = list(first.params if isinstance(first, FitResult) else first)
    columns: dict[str, list[str]] = {}
    for label, src in sources.items():
        if isinstance(src, FitResult):
            pct = f"{src.level:.0%}"
            unidentified = src._unidentified_names()
            vals, ivs, ses = [], [], []
            for n in names:
                if n not in src.params:
                    vals.append("—"); ivs.append(""); ses.append("")
                    continue
                if n in unidentified:
                    vals.append("not identified"); ivs.append(""); ses.append("")
                    continue
                vals.append(_fmt(src.params[n], digits))
                ivs.append("" if src.samples is None or n in src.law.fixed
                           else _interval_text(src.interval(n), digits))
                ses.append(_fmt(bootstrap_se(src, n), 2) if src.samples is not None else "")
            columns[label] = vals
            if src.samples is not None:
                columns[f"{label} {pct}"] = ivs
                if show_se:
                    columns[f"{label} SE"] = ses
        else:
            columns[label] = [_fmt(_with_derived(src, sources).get(n), digits) for n in names]
        if label in se:
            columns[f"{label} SE"] = [_fmt(se[label].get(n), 3) if n in se[label] else "" for n in names]
    table = pd.DataFrame(columns, index=pd.Index(list(names), name="parameter"))
    if objective_on is not None:
        row = {}
        for label, src in sources.items():
            params = src.params if isinstance(src, FitResult) else src
            row[label] = _fmt(objective_on.objective_at(params), digits)
        s = objective_on.settings
        label = f"objective ({s['objective']}, {s['reduction']})"
        table.loc[label] = pd.Series(row)
    return table.fillna("")


def allocation_table(sources: Mapping[str, Any], C: Any, *, law: Law | None = None,
                     flops_per_token: float = 6.0, digits: int = 3) -> pd.DataFrame:
    """Compute-optimal N, D and tokens per parameter at each budget in ``C`` for each
    source (``compute_optimal``), indexed by (source, C). A fit with a bootstrap adds
    the interval of tokens per parameter ("bound-limited" where a parameter the
    allocation reads is bound-limited)."""
    _check_sources(sources, "allocation_table")
    budgets = np.atleast_1d(np.asarray(C, dtype=float))
    rows = []
    for label, src in sources.items():
        if isinstance(src, FitResult):
            alloc = compute_optimal(src, budgets, flops_per_token=flops_per_token)
        else:
            alloc = compute_optimal(src, budgets, law=law, flops_per_token=flops_per_token)
        for j, c in enumerate(budgets):
            row = {"fit": label, "C (FLOPs)": f"{c:.{digits}g}", "N_opt": _fmt(alloc.N_opt[j], digits),
                   "D_opt": _fmt(alloc.D_opt[j], digits), "tokens/param": _fmt(alloc.tokens_per_param[j], digits)}
            if isinstance(src, FitResult) and alloc.intervals:
                row[f"tokens/param {src.level:.0%}"] = _interval_text(alloc.interval("tokens_per_param", j), digits)
            rows.append(row)
    return pd.DataFrame(rows).fillna("").set_index(["fit", "C (FLOPs)"])


__all__ = ["parameter_table", "allocation_table", "bootstrap_se"]
