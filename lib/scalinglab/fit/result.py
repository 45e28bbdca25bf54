"""The typed result of a fit."""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from scalinglab.fit.laws import Law, get_law


def _sig(x: float, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


@dataclass
class FitResult:
    """Fitted parameters of one law on one data set.

    ``params``: name -> value (public units). ``intervals``: name -> (lo, hi), the
    percentile bootstrap interval at ``level`` (empty without a bootstrap).
    ``objective``: the minimised objective in the chosen reduction. ``converged``:
    whether the optimiser stopped on its tolerances. ``at_bound``: free parameters that
    ended on a bound (their value is a limit, not an estimate). ``settings``: every
    choice the fit made. ``samples``: bootstrap parameter vectors (rows), columns in
    ``sample_names`` order. ``bound_share``: for each free parameter, the share of
    bootstrap resamples whose fit put it on a bound of its range.

    A parameter is *not identified* when the data do not pin it down: more than the tail
    share of the interval, (1 - level) / 2, of its resamples sit on a bound of its range,
    so its interval is set by that range, not by the data. Its estimate then depends on
    the last bits of floating point; it is reported as "not identified", never as digits."""

    law: Law
    params: dict[str, float]
    objective: float
    converged: bool
    at_bound: list[str]
    settings: dict[str, Any]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: np.ndarray | None = None
    sample_names: tuple[str, ...] = ()
    level: float = 0.95
    n_points: int = 0
    stats: dict[str, float] = field(default_factory=dict)
    bound_share: dict[str, float] = field(default_factory=dict)
    # Whether the returned point passes the engine's first-order test of an optimum
    # (``engine.stationary``), whatever the optimiser's own flag says: an optimiser that
    # stops early on its default tolerances reports success at a point that is not one.
    at_optimum: bool | None = None

    # -- identification --------------------------------------------------------------
    @property
    def not_identified(self) -> list[str]:
        """Free parameters the data do not pin down (see the class docstring)."""
        tail = (1 - self.level) / 2
        return [n for n in self.law.free if self.bound_share.get(n, 0.0) > tail]

    @property
    def identified(self) -> bool:
        """True when every free parameter is identified."""
        return not self.not_identified

    def estimate(self, name: str) -> float | None:
        """The fitted value of ``name``, or None when the data do not identify it."""
        if name not in self.params:
            raise KeyError(f"{name!r} is not a parameter of {self.law.name}; it has {', '.join(self.params)}")
        return None if name in self.not_identified else self.params[name]

    # -- use ------------------------------------------------------------------------
    def predict(self, data: Any = None, **columns) -> np.ndarray:
        """Predictions at new data: a DataFrame/mapping with the law's columns, or the
        columns as keywords (``fit.predict(N=..., D=...)``), or one array for a
        one-input law."""
        return self.law.predict(self.params, data, **columns)

    def __call__(self, data: Any = None, **columns) -> np.ndarray:
        return self.predict(data, **columns)

    @property
    def bootstrap_params(self) -> list[dict[str, float]]:
        if self.samples is None:
            return []
        return [dict(zip(self.sample_names, row)) for row in self.samples]

    def derived(self, fn: Callable[[Mapping[str, float]], float], level: float | None = None
                ) -> tuple[float, tuple[float, float] | None]:
        """A derived quantity ``fn(params)`` at the fit and its percentile interval over
        the bootstrap samples (None without a bootstrap)."""
        value = float(fn(self.params))
        if self.samples is None:
            return value, None
        level = self.level if level is None else level
        vals = np.array([fn(p) for p in self.bootstrap_params], dtype=float)
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            return value, None
        q = 100 * (1 - level) / 2
        return value, (float(np.percentile(vals, q)), float(np.percentile(vals, 100 - q)))

    def covariance(self, names: tuple[str, ...] | None = None, internal: bool = True) -> np.ndarray:
        """Bootstrap covariance of the parameters (internal coordinates by default:
        log of scale constants, exponents as they are)."""
        if self.samples is None:
            raise ValueError("covariance needs a fit with bootstrap > 0")
        names = names or tuple(self.law.free)
        cols = []
        for n in names:
            v = self.samples[:, self.sample_names.index(n)]
            p = self.law.params[self.law.names.index(n)]
            cols.append(np.log(v) if (internal and p.transform == "log") else v)
        return np.atleast_2d(np.cov(np.column_stack(cols), rowvar=False))

    # -- display --------------------------------------------------------------------
    def describe_settings(self) -> str:
        s = self.settings
        loss = s["loss"] if s["loss"] == "lsq" else f"huber(delta={s['huber_delta']:g})"
        parts = [f"law {s['law']} [{s.get('formula', '')}]", f"loss {loss}",
                 f"reduction {s['reduction']}", f"space {s['space']}",
                 f"starts {s['starts']}", f"optimizer {s['optimizer']}",
                 f"bootstrap {s['bootstrap']}" + (f" (seed {s['seed']})" if s["bootstrap"] else ""),
                 f"points {self.n_points}"]
        if self.law.fixed:
            parts.append("fixed " + ", ".join(f"{k}={_sig(v)}" for k, v in self.law.fixed.items()))
        return " · ".join(parts)

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for name, value in self.params.items():
            lo, hi = self.intervals.get(name, (None, None))
            rows.append({"parameter": name, "value": value, "lo": lo, "hi": hi,
                         "fixed": name in self.law.fixed, "at_bound": name in self.at_bound})
        return rows

    def summary(self, digits: int = 4) -> str:
        lines = [self.describe_settings()]
        pct = f"{self.level:.0%}"
        unidentified = set(self.not_identified)
        for row in self.table():
            if row["parameter"] in unidentified:
                lines.append(f"  {row['parameter']:>10s} = not identified (its resamples run to a bound of its range)")
                continue
            txt = f"  {row['parameter']:>10s} = {_sig(row['value'], digits)}"
            if row["lo"] is not None:
                txt += f"   {pct} [{_sig(row['lo'], digits)}, {_sig(row['hi'], digits)}]"
            if row["fixed"]:
                txt += "   (fixed)"
            if row["at_bound"]:
                txt += "   (at bound)"
            lines.append(txt)
        status = "converged" if self.converged else "NOT converged"
        lines.append(f"  objective {self.settings['reduction']} = {_sig(self.objective, digits)} · {status}"
                     + (f" · at bound: {', '.join(self.at_bound)}" if self.at_bound else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={_sig(v)}" for k, v in self.params.items())
        return f"FitResult({self.settings.get('law')}: {vals})"

    def _repr_html_(self) -> str:
        pct = f"{self.level:.0%}"
        head = f"<tr><th>parameter</th><th>value</th><th>{pct} interval</th><th></th></tr>"
        body = []
        unidentified = set(self.not_identified)
        for row in self.table():
            if row["parameter"] in unidentified:
                body.append(f"<tr><td>{html.escape(row['parameter'])}</td><td>not identified</td>"
                            "<td></td><td>resamples run to a bound</td></tr>")
                continue
            iv = "" if row["lo"] is None else f"[{_sig(row['lo'])}, {_sig(row['hi'])}]"
            flag = "fixed" if row["fixed"] else ("at bound" if row["at_bound"] else "")
            body.append(f"<tr><td>{html.escape(row['parameter'])}</td><td>{_sig(row['value'])}</td>"
                        f"<td>{iv}</td><td>{flag}</td></tr>")
        status = "converged" if self.converged else "<b>not converged</b>"
        return (f"<div><p><code>{html.escape(self.describe_settings())}</code></p>"
                f"<table>{head}{''.join(body)}</table>"
                f"<p>objective ({self.settings['reduction']}) = {_sig(self.objective)} · {status}</p></div>")

    # -- JSON -----------------------------------------------------------------------
    def to_dict(self, include_samples: bool = True) -> dict[str, Any]:
        return {
            "law": self.law.spec(),
            "params": self.params,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "objective": self.objective,
            "converged": self.converged,
            "at_bound": list(self.at_bound),
            "settings": self.settings,
            "level": self.level,
            "n_points": self.n_points,
            "stats": self.stats,
            "bound_share": self.bound_share,
            "at_optimum": self.at_optimum,
            "sample_names": list(self.sample_names),
            "samples": self.samples.tolist() if (include_samples and self.samples is not None) else None,
        }

    def to_json(self, include_samples: bool = True, **kwargs) -> str:
        return json.dumps(_jsonable(self.to_dict(include_samples)), **kwargs)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FitResult":
        samples = d.get("samples")
        return cls(
            law=get_law(d["law"]),
            params={k: float(v) for k, v in d["params"].items()},
            intervals={k: (float(v[0]), float(v[1])) for k, v in d.get("intervals", {}).items()},
            objective=float(d["objective"]),
            converged=bool(d["converged"]),
            at_bound=list(d.get("at_bound", [])),
            settings=dict(d.get("settings", {})),
            level=float(d.get("level", 0.95)),
            n_points=int(d.get("n_points", 0)),
            stats={k: float(v) for k, v in d.get("stats", {}).items()},
            bound_share={k: float(v) for k, v in d.get("bound_share", {}).items()},
            at_optimum=d.get("at_optimum"),
            sample_names=tuple(d.get("sample_names", ())),
            samples=None if samples is None else np.asarray(samples, dtype=float),
        )

    @classmethod
    def from_json(cls, text: str) -> "FitResult":
        return cls.from_dict(json.loads(text))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x
