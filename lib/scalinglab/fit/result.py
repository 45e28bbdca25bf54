"""The typed result of a fit."""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from scalinglab.fit import engine
from scalinglab.fit.laws import Law, get_law


def _sig(x: float, digits: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


@dataclass
class FitResult:
    """Fitted parameters of one law on one data set.

    ``params``: name -> value (public units). ``intervals``: name -> (lo, hi), the
    percentile bootstrap interval at ``level`` (empty without a bootstrap), raw, bound
    or not; :meth:`interval` gives only the ones that are results. ``objective``: the
    minimised objective in the chosen reduction. ``settings``: every choice the fit
    made. ``samples``: bootstrap parameter vectors (rows), columns in ``sample_names``
    order. ``bound_share``: for each free parameter, the share of bootstrap resamples
    whose fit put it on a bound of its range.

    ``converged`` is True exactly when the returned point passes the engine's verdict
    (``engine.assess``, the same for every optimiser): (a) it is stationary by the
    Gauss-Newton decrement test (``at_optimum``), not merely where the optimiser
    reported success; (b) no free parameter sits on a bound of its range (within
    ``engine.BOUND_RTOL`` of the range's width) unless the law declares that end a
    legitimate boundary (``Param.boundary``): a fit that ran away ends on a bound; (c)
    the start did not stall away from a stationary point (Levenberg-Marquardt damping
    above ``engine.LM_DAMPING_CAP``, a failed L-BFGS-B line search). ``failure`` lists
    why not, e.g. ``["stalled (LM damping 3e12)", "gradient tolerance not met (...)",
    "at bound: A (log A at the upper end of its range [-10, 80])"]``; it is empty when the fit
    converged. ``message`` is the same as one line.

    ``at_bound``: free parameters whose *point estimate* ended on a bound of its range
    (legitimate boundaries included; their value is a limit, not an estimate).
    ``bound_limited``: parameters (and derived quantities) whose *bootstrap interval*
    touches a bound of the range, or that are not identified: the interval is set by
    the range, not by the data. ``interval(name)`` returns None for these, and the
    summary prints them as "bound-limited" instead of numbers.

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
    # It is condition (a) of ``converged``; a point on a bound can pass it.
    at_optimum: bool | None = None
    # Why the fit is not converged (see the class docstring); empty when it is.
    failure: list[str] = field(default_factory=list)
    # The (inputs, target) arrays the fit was made on, for ``objective_at``; not saved
    # in JSON (a result read back from JSON cannot score new vectors).
    data: tuple[dict[str, np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        # results saved before the objective was called so read "loss" for it
        if "objective" not in self.settings and "loss" in self.settings:
            self.settings["objective"] = self.settings.pop("loss")

    # -- goodness of fit ---------------------------------------------------------------
    @property
    def rss(self) -> float | None:
        """Residual sum of squares Σr² in the fit's space (``stats["rss"]``)."""
        return self.stats.get("rss") if self.stats else None

    @property
    def rmse(self) -> float | None:
        """Root mean squared residual √(rss/n) in the fit's space (``stats["rmse"]``)."""
        return self.stats.get("rmse") if self.stats else None

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
        self._check_name(name)
        return None if name in self._unidentified_names() else self.params[name]

    def _unidentified_names(self) -> set[str]:
        """Not-identified parameters and the derived quantities that depend on one."""
        out = set(self.not_identified)
        if out:
            out |= {n for n in self.params if n not in self.law.names and set(self.law.derived_from(n)) & out}
        return out

    # -- scoring other parameter vectors ---------------------------------------------
    def _problem(self):
        if self.data is None:
            raise ValueError("this result does not hold its data (read from JSON?); refit to score "
                             "other parameter vectors")
        s = self.settings
        X, y = self.data
        return engine.Problem(self.law, X, y, s["objective"], s["huber_delta"], s["reduction"], s["space"])

    def objective_at(self, params: Mapping[str, float]) -> float:
        """The fit's objective, as it was minimised (same data, objective, reduction and
        space), at another parameter vector, e.g. a paper's published one. Fixed
        parameters may be omitted; derived quantities are ignored."""
        prob = self._problem()
        theta = self.law.from_public(params)[self.law.free_index]
        return float(prob.objective(theta[None, :])[0])

    def residuals_at(self, params: Mapping[str, float]) -> np.ndarray:
        """Residuals (prediction minus target, in the fit's space) at ``params``."""
        prob = self._problem()
        theta = self.law.from_public(params)[self.law.free_index]
        return prob.residuals(theta[None, :])[0]

    def rss_at(self, params: Mapping[str, float]) -> float:
        """The residual sum of squares Σr² at ``params`` (comparable across tools)."""
        r = self.residuals_at(params)
        return float(np.sum(r * r))

    def _check_name(self, name: str) -> None:
        if name not in self.params and name not in self.intervals:
            raise KeyError(f"{name!r} is not a parameter of {self.law.name}; it has {', '.join(self.params)}")

    # -- flags ----------------------------------------------------------------------
    @property
    def message(self) -> str:
        """The verdict in one line: "converged", or "not converged: " and the
        ``failure`` reasons."""
        if self.converged:
            return "converged"
        return "not converged: " + ("; ".join(self.failure) if self.failure else "reason not recorded")

    @property
    def status(self) -> str:
        """The verdict in a word or two, for a table row: "converged", "at bound: <names>"
        (a free parameter ended on a bound of its range) or "stopped early" (stalled, or
        the gradient test not met); the reasons in full are in ``failure``."""
        if self.converged:
            return "converged"
        if any(reason.startswith("at bound") for reason in self.failure) and self.at_bound:
            return "at bound: " + ", ".join(self.at_bound)
        return "stopped early"

    @property
    def bound_limited(self) -> list[str]:
        """Names in ``intervals`` whose interval is set by the range of a parameter,
        not by the data: a free parameter whose interval has an end within
        ``engine.BOUND_RTOL`` of the width of its range from a bound of it (in internal
        coordinates: log of scale constants; ends the law declares legitimate
        boundaries do not count) or that is not identified, and a derived quantity
        (``beta`` of a tied fit) that depends on such a parameter. A fit in closed form
        (``loglog_slope``) searches no bounded range, so nothing there is bound-limited."""
        if not self.intervals:
            return []
        law = self.law
        limited = set(self.not_identified)
        if self.settings.get("optimizer") != "ols":
            ends = np.full((2, len(law.free)), np.nan)
            for j, name in enumerate(law.free):
                if name in self.intervals:
                    p = law.params[law.names.index(name)]
                    iv = np.asarray(self.intervals[name], dtype=float)
                    ends[:, j] = np.log(np.maximum(iv, 1e-300)) if p.transform == "log" else iv
            at_lo, at_hi = engine.bound_hits(law, ends)
            limited |= {n for n, hit in zip(law.free, np.any(at_lo | at_hi, axis=0)) if hit}
        out = []
        for name in self.intervals:
            if name in law.names:
                hit = name in limited
            else:  # a derived quantity
                hit = any(d in limited for d in law.derived_from(name))
            if hit:
                out.append(name)
        return out

    def interval(self, name: str, level: float | None = None) -> tuple[float, float] | None:
        """The bootstrap interval of ``name`` when it is a result: None without a
        bootstrap, for a fixed parameter, and for a bound-limited interval (see
        ``bound_limited``), which notebooks must not print as numbers. ``intervals``
        keeps the raw percentiles. ``level``: another level than the fit's (a
        percentile interval of the same resamples)."""
        self._check_name(name)
        iv = self.intervals.get(name)
        if iv is None or name in self.bound_limited:
            return None
        if level is None or level == self.level:
            return (float(iv[0]), float(iv[1]))
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must be between 0 and 1")
        col = self.samples[:, self.sample_names.index(name)]
        col = col[np.isfinite(col)]
        q = 100 * (1 - level) / 2
        return (float(np.percentile(col, q)), float(np.percentile(col, 100 - q)))

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

    def derived(self, fn: Callable[[Mapping[str, float]], float], level: float | None = None,
                *, uses: "Sequence[str] | None" = None) -> tuple[float, tuple[float, float] | None]:
        """A derived quantity ``fn(params)`` at the fit and its percentile interval over
        the bootstrap samples (None without a bootstrap). ``uses``: the parameters ``fn``
        reads; when given, the interval is None if any of them is bound-limited (see
        ``bound_limited``), as ``interval`` does for a parameter."""
        value = float(fn(self.params))
        if uses is not None:
            for name in uses:
                self._check_name(name)
            if set(uses) & set(self.bound_limited):
                return value, None
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
        objective = s["objective"] if s["objective"] == "lsq" else f"huber(delta={s['huber_delta']:g})"
        parts = [f"law {s['law']} [{s.get('formula', '')}]", f"objective {objective}",
                 f"reduction {s['reduction']}", f"space {s['space']}",
                 f"starts {s['starts']}", f"optimizer {s['optimizer']}",
                 f"bootstrap {s['bootstrap']}" + (f" (seed {s['seed']})" if s["bootstrap"] else ""),
                 f"points {self.n_points}"]
        if "direction" in s:
            parts.insert(1, f"direction {s['direction']}")
        if s.get("columns"):
            parts.append("columns " + ", ".join(f"{k}={v}" for k, v in s["columns"].items()))
        if self.law.fixed:
            parts.append("fixed " + ", ".join(f"{k}={_sig(v)}" for k, v in self.law.fixed.items()))
        return " · ".join(parts)

    def goodness(self, digits: int = 4) -> str:
        """The objective as minimised, then the residual sum of squares and RMSE, named
        as such (peers usually report Σr², twice a least-squares objective of ½·Σr²)."""
        s = self.settings
        per_point = "½·r²" if s["objective"] == "lsq" else f"Huber(δ={s['huber_delta']:g})"
        how = "summed" if s["reduction"] == "sum" else "averaged"
        out = f"objective = {_sig(self.objective, digits)} ({per_point} per point, {how})"
        if "rss" in self.stats:
            out += (f" · RSS (Σr², {s['space']} space) = {_sig(self.stats['rss'], digits)}"
                    f" · RMSE = {_sig(self.stats['rmse'], digits)}")
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per parameter: value, raw interval ends (lo, hi), and the flags fixed,
        at_bound (the estimate) and bound_limited (the interval)."""
        rows = []
        limited = set(self.bound_limited)
        for name, value in self.params.items():
            lo, hi = self.intervals.get(name, (None, None))
            rows.append({"parameter": name, "value": value, "lo": lo, "hi": hi,
                         "fixed": name in self.law.fixed, "at_bound": name in self.at_bound,
                         "bound_limited": name in limited})
        return rows

    def flags(self) -> str:
        """The status line's flags: "converged" or "NOT converged: <reasons>", then the
        parameters at a bound that the reasons do not name, and the bound-limited
        intervals."""
        if self.converged:
            status = "converged"
        else:
            status = "NOT converged" + (": " + "; ".join(self.failure) if self.failure else "")
        named = [n for n in self.at_bound if not any(r.startswith(f"at bound: {n} ") for r in self.failure)]
        out = status + (f" · at bound: {', '.join(named)}" if named else "")
        limited = self.bound_limited
        if limited:
            out += f" · bound-limited intervals: {', '.join(limited)}"
        return out

    def summary(self, digits: int = 4) -> str:
        lines = [self.describe_settings()]
        pct = f"{self.level:.0%}"
        unidentified = self._unidentified_names()
        for row in self.table():
            if row["parameter"] in unidentified:
                lines.append(f"  {row['parameter']:>10s} = not identified (its resamples run to a bound of its range)")
                continue
            txt = f"  {row['parameter']:>10s} = {_sig(row['value'], digits)}"
            if row["lo"] is not None:
                if row["bound_limited"]:
                    txt += f"   {pct} bound-limited (the interval reaches a bound of the range)"
                else:
                    txt += f"   {pct} [{_sig(row['lo'], digits)}, {_sig(row['hi'], digits)}]"
            if row["fixed"]:
                txt += "   (fixed)"
            if row["at_bound"]:
                txt += "   (at bound)"
            if row["parameter"] not in self.law.names:
                txt += f"   ({self.law.derived_note(row['parameter'])})"
            lines.append(txt)
        lines.append(f"  {self.goodness(digits)}")
        lines.append(f"  {self.flags()}")
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
        unidentified = self._unidentified_names()
        for row in self.table():
            if row["parameter"] in unidentified:
                body.append(f"<tr><td>{html.escape(row['parameter'])}</td><td>not identified</td>"
                            "<td></td><td>resamples run to a bound</td></tr>")
                continue
            iv = ("" if row["lo"] is None else "bound-limited" if row["bound_limited"]
                  else f"[{_sig(row['lo'])}, {_sig(row['hi'])}]")
            flag = "fixed" if row["fixed"] else ("at bound" if row["at_bound"] else "")
            body.append(f"<tr><td>{html.escape(row['parameter'])}</td><td>{_sig(row['value'])}</td>"
                        f"<td>{iv}</td><td>{flag}</td></tr>")
        flags = html.escape(self.flags())
        if not self.converged:
            flags = flags.replace("NOT converged", "<b>not converged</b>", 1)
        return (f"<div><p><code>{html.escape(self.describe_settings())}</code></p>"
                f"<table>{head}{''.join(body)}</table>"
                f"<p>{html.escape(self.goodness())}<br>{flags}</p></div>")

    # -- JSON -----------------------------------------------------------------------
    def to_dict(self, include_samples: bool = True) -> dict[str, Any]:
        return {
            "law": self.law.spec(),
            "params": self.params,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "objective": self.objective,
            "objective_definition": self.settings.get("objective_definition"),
            "rss": self.stats.get("rss"),
            "rmse": self.stats.get("rmse"),
            "converged": self.converged,
            "at_bound": list(self.at_bound),
            "settings": self.settings,
            "level": self.level,
            "n_points": self.n_points,
            "stats": self.stats,
            "bound_share": self.bound_share,
            "at_optimum": self.at_optimum,
            "failure": list(self.failure),
            # intervals above are the raw percentiles; these name the ones that are not
            # results (set by a bound of the range, or a parameter the data do not pin down)
            "bound_limited": self.bound_limited,
            "not_identified": sorted(self._unidentified_names()),
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
            failure=[str(r) for r in d.get("failure", [])],
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
