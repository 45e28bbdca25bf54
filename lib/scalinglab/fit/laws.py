"""Scaling laws as functional forms with named parameters.

A law predicts a positive quantity (usually a loss) from data columns such as ``N``
(parameters), ``D`` (tokens), ``C`` (FLOPs), ``S`` (steps), ``U`` (unique tokens) or
``x`` (any size axis). Each law has

- public parameters with the names papers use (``E``, ``A``, ``alpha`` ...),
- an internal coordinate per parameter in which the optimiser works: positive scale
  constants are optimised as their logarithm (``A = exp(a)``), exponents as they are,
- bounds on the internal coordinates, and a default starting grid,
- ``log_predict(theta, X)``: the log of the prediction for a *batch* of internal
  vectors ``theta`` (shape ``(S, P)``) at once, which is what makes multi-start fits
  and bootstraps fast,
- optionally a split into linear coefficients and nonlinear parameters
  (``E, A, B`` versus ``alpha, beta`` for Chinchilla), used for variable projection.

Any parameter can be held fixed: ``Chinchilla(fixed={"E": 1.69})``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Param:
    """One parameter: its public name, how the internal coordinate maps to it
    (``"log"``: public = exp(internal), ``"id"``: public = internal), the internal
    bounds, and the internal values of the default product grid.

    ``boundary`` names the ends of the range (``"lo"``, ``"hi"``) that are legitimate
    boundaries of the model rather than limits of the search box: a fit may end there
    and still count as converged (an exponent constrained to be >= 0 that the data push
    to 0, say). An estimate on any other end of the range is a limit the data push
    against, not a value, and a fit that ends there is not converged. No law in this
    module declares one: the ends of every range here are limits of the search box."""

    name: str
    transform: str  # "log" | "id"
    lo: float
    hi: float
    grid: tuple[float, ...]
    boundary: tuple[str, ...] = ()

    def __post_init__(self):
        bad = [b for b in self.boundary if b not in ("lo", "hi")]
        if bad:
            raise ValueError(f"parameter {self.name}: boundary must name 'lo' and/or 'hi', got {bad}")

    def to_public(self, v):
        return np.exp(v) if self.transform == "log" else v

    def to_internal(self, v: float) -> float:
        if self.transform == "log":
            if not v > 0:
                raise ValueError(f"parameter {self.name} must be > 0, got {v}")
            return math.log(v)
        return float(v)


def _lse(*terms: np.ndarray) -> np.ndarray:
    """log(sum(exp(terms))) without overflow."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    total = np.zeros_like(m)
    for t in terms:
        total += np.exp(t - m)
    return m + np.log(total)


def _softmax(*terms: np.ndarray) -> list[np.ndarray]:
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    exps = [np.exp(t - m) for t in terms]
    total = sum(exps)
    return [e / total for e in exps]


class Law:
    """Base class. Subclasses set ``name``, ``inputs``, ``_params`` and implement
    ``_log_predict``; ``_log_jacobian`` is optional (central differences otherwise)."""

    name: str = "law"
    formula: str = ""
    inputs: tuple[str, ...] = ()
    # Variable projection: linear coefficients (public names, all "log" params >= 0)
    # and the nonlinear parameters with the grid searched for them.
    linear: tuple[str, ...] = ()

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self.fixed: dict[str, float] = {}
        for k, v in dict(fixed or {}).items():
            if k not in self.names:
                raise ValueError(f"{self.name}: cannot fix unknown parameter {k!r}; "
                                 f"parameters are {', '.join(self.names)}")
            self.fixed[k] = float(v)

    # -- structure ------------------------------------------------------------------
    @property
    def params(self) -> tuple[Param, ...]:
        return self._params  # type: ignore[attr-defined]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def free(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.fixed)

    @property
    def free_index(self) -> np.ndarray:
        return np.array([i for i, n in enumerate(self.names) if n not in self.fixed], dtype=int)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Internal bounds of the free parameters."""
        idx = self.free_index
        lo = np.array([p.lo for p in self.params])[idx]
        hi = np.array([p.hi for p in self.params])[idx]
        return lo, hi

    def legitimate_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """For each free parameter, whether its lower and its upper bound are declared
        legitimate boundaries of the model (``Param.boundary``), as two bool arrays."""
        idx = self.free_index
        lo = np.array(["lo" in p.boundary for p in self.params], dtype=bool)[idx]
        hi = np.array(["hi" in p.boundary for p in self.params], dtype=bool)[idx]
        return lo, hi

    def spec(self) -> dict[str, Any]:
        """What ``get_law`` needs to rebuild this law (JSON round-trip)."""
        return {"name": self.name, "fixed": dict(self.fixed), **self._options()}

    def _options(self) -> dict[str, Any]:
        return {}

    def min_points(self) -> int:
        return len(self.free) + 1

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        fixed = f", fixed={self.fixed!r}" if self.fixed else ""
        return f"{type(self).__name__}({opts}{fixed})".replace("(, ", "(")

    # -- conversions ----------------------------------------------------------------
    def full(self, theta_free: np.ndarray) -> np.ndarray:
        """Free internal vectors (S, F) -> full internal vectors (S, P)."""
        theta_free = np.atleast_2d(np.asarray(theta_free, dtype=float))
        out = np.empty((theta_free.shape[0], len(self.params)))
        out[:, self.free_index] = theta_free
        for i, p in enumerate(self.params):
            if p.name in self.fixed:
                out[:, i] = p.to_internal(self.fixed[p.name])
        return out

    def to_public(self, theta_full: np.ndarray) -> dict[str, float]:
        theta_full = np.asarray(theta_full, dtype=float).ravel()
        out = {p.name: float(p.to_public(v)) for p, v in zip(self.params, theta_full)}
        out.update(self._derived(out))
        return out

    def public_array(self, theta_full: np.ndarray) -> np.ndarray:
        """(S, P) internal -> (S, P) public values, columns in ``names`` order."""
        theta_full = np.atleast_2d(theta_full)
        return np.column_stack([p.to_public(theta_full[:, i]) for i, p in enumerate(self.params)])

    def from_public(self, params: Mapping[str, float]) -> np.ndarray:
        """Public dict (fixed ones may be omitted) -> full internal vector (P,)."""
        values = {**self.fixed, **{k: float(v) for k, v in params.items()}}
        missing = [n for n in self.names if n not in values]
        if missing:
            raise ValueError(f"{self.name}: missing parameters {', '.join(missing)}")
        return np.array([p.to_internal(values[p.name]) for p in self.params])

    def _derived(self, public: dict[str, float]) -> dict[str, float]:
        """Extra named quantities implied by the parameters (e.g. a tied exponent)."""
        return {}

    def derived_from(self, name: str) -> tuple[str, ...]:
        """The free parameters a derived quantity (``_derived``) depends on; all of them
        unless a law says otherwise."""
        return self.free

    def derived_note(self, name: str) -> str:
        """What a derived quantity is, in a few words (printed beside it)."""
        return "derived"

    # -- predictions ----------------------------------------------------------------
    def log_predict(self, theta_full: np.ndarray, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """log of the prediction, shape (S, n), for internal vectors (S, P).
        Data arrays in ``X`` are (n,) or (S, n)."""
        theta_full = np.atleast_2d(theta_full)
        return self._log_predict(theta_full, X)

    def log_jacobian(self, theta_full: np.ndarray, X: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(log prediction (S, n), d log prediction / d theta (S, n, P))."""
        theta_full = np.atleast_2d(theta_full)
        analytic = self._log_jacobian(theta_full, X)
        if analytic is not None:
            return analytic
        f0 = self._log_predict(theta_full, X)
        jac = np.empty(f0.shape + (theta_full.shape[1],))
        for j in range(theta_full.shape[1]):
            h = 1e-6 * (1.0 + np.abs(theta_full[:, j]))
            up, dn = theta_full.copy(), theta_full.copy()
            up[:, j] += h
            dn[:, j] -= h
            jac[:, :, j] = (self._log_predict(up, X) - self._log_predict(dn, X)) / (2 * h[:, None])
        return f0, jac

    def _log_jacobian(self, theta, X):  # pragma: no cover - overridden where worth it
        return None

    def predict(self, params: Mapping[str, float], data: Any = None, **columns) -> np.ndarray:
        """The law's prediction (linear space) at the given data columns."""
        X = _columns(self, data, columns)
        theta = self.from_public(params)
        return np.exp(self.log_predict(theta[None, :], X))[0]

    # -- starts ---------------------------------------------------------------------
    def product_grid(self) -> np.ndarray:
        """The product grid over each parameter's ``grid`` values, as full internal
        vectors (S, P); a fixed parameter contributes its fixed value only."""
        axes = [(p.to_internal(self.fixed[p.name]),) if p.name in self.fixed else p.grid
                for p in self.params]
        return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))

    def data_grid(self, X: Mapping[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        """Starting points (full internal vectors) informed by the data. The default is
        the product grid; laws override this where the data pin down a scale. Fixed
        parameters are overwritten with their values afterwards."""
        return self.product_grid()

    def named_grid(self, name: str) -> np.ndarray:
        raise ValueError(f"{self.name} has no starting grid called {name!r}")

    # Variable projection: for a batch of nonlinear parameter vectors, the basis
    # functions that multiply the linear coefficients. Returns (G, n, m) or None.
    def vp_grid(self, X: Mapping[str, np.ndarray]) -> np.ndarray | None:
        return None

    def vp_basis(self, nonlinear: np.ndarray, X: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def vp_assemble(self, nonlinear: np.ndarray, coefs: np.ndarray) -> np.ndarray:
        """Nonlinear (G, k) + linear coefficients (G, m) -> full internal vectors (G, P)."""
        raise NotImplementedError

    @property
    def nonlinear(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.linear)

    def supports_vp(self) -> bool:
        """Variable projection needs every parameter free (the linear solve sets the
        coefficients, the grid the rest)."""
        return bool(self.linear) and not self.fixed


def _columns(law: Law, data: Any, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    source: dict[str, Any] = {}
    if data is not None:
        if hasattr(data, "columns"):
            source.update({c: data[c] for c in data.columns})
        elif isinstance(data, Mapping):
            source.update(data)
        elif len(law.inputs) == 1:
            source[law.inputs[0]] = data
        else:
            raise ValueError(f"{law.name}: data must be a mapping or DataFrame with columns "
                             f"{', '.join(law.inputs)}")
    source.update(columns)
    missing = [c for c in law.inputs if c not in source]
    if missing:
        raise ValueError(f"{law.name}: missing column(s) {', '.join(missing)}")
    return {c: np.asarray(source[c], dtype=float) for c in law.inputs}


def _log_grid(lo: float, hi: float, k: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(math.log(lo), math.log(hi), k))


# ----------------------------------------------------------------------------------
# Power laws
# ----------------------------------------------------------------------------------
class PowerLaw(Law):
    """y = A·x^(−alpha) [+ E] (falling, the default) or y = A·x^alpha [+ E]
    (``growing=True``). ``alpha`` is the exponent's magnitude: positive for a curve
    that goes the way the law says (it may come out negative when the data go the
    other way; ``fit_power_law`` picks the direction from the data by default)."""

    name = "power"
    inputs = ("x",)

    def __init__(self, offset: bool = False, growing: bool = False, fixed: Mapping[str, float] | None = None):
        self.offset = bool(offset)
        self.growing = bool(growing)
        # d log(power term) / d alpha per unit of log x: -1 falling, +1 growing
        self.sign = 1.0 if self.growing else -1.0
        self._params = (
            Param("A", "log", -80.0, 80.0, (0.0,)),
            Param("alpha", "id", -10.0, 10.0, (0.05, 0.2, 0.5, 1.0)),
        ) + ((Param("E", "log", -30.0, 10.0, (-3.0, -1.0, 0.0, 1.0)),) if self.offset else ())
        self.linear = ("A", "E") if self.offset else ()
        power = "A·x^alpha" if self.growing else "A·x^(−alpha)"
        self.formula = power + (" + E" if self.offset else "")
        super().__init__(fixed)

    def _options(self):
        return {"offset": self.offset, **({"growing": True} if self.growing else {})}

    def _log_predict(self, theta, X):
        lx = np.log(X["x"])
        power = theta[:, 0:1] + self.sign * theta[:, 1:2] * lx
        if not self.offset:
            return power + 0.0 * lx  # (+ 0 * lx broadcasts to (S, n) when x is (S, n))
        return _lse(power, theta[:, 2:3] + 0.0 * lx)

    def _log_jacobian(self, theta, X):
        lx = np.log(X["x"])
        power = theta[:, 0:1] + self.sign * theta[:, 1:2] * lx
        if not self.offset:
            f = power + 0.0 * lx
            jac = np.stack([np.ones_like(f), self.sign * lx + 0.0 * f], axis=-1)
            return f, jac
        e = theta[:, 2:3] + 0.0 * lx
        w_pow, w_e = _softmax(power, e)
        f = _lse(power, e)
        return f, np.stack([w_pow, self.sign * w_pow * lx, w_e], axis=-1)

    def data_grid(self, X, y):
        lx = np.log(X["x"])
        starts = []
        # Without offset, least squares in log-log space is the answer; with offset, do
        # the same regression on y - E for a few E below min(y).
        fractions = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99) if self.offset else (0.0,)
        for frac in fractions:
            E = frac * y.min()
            slope, intercept = np.polyfit(lx, np.log(y - E), 1)
            row = [intercept, self.sign * slope]
            if self.offset:
                row.append(math.log(max(E, y.min() * 1e-6)))
            starts.append(row)
        return np.vstack([np.array(starts), self.product_grid()])

    def vp_grid(self, X):
        if not self.offset:
            return None
        return np.array([[a] for a in np.concatenate([np.linspace(-2.0, -0.01, 40),
                                                      np.geomspace(0.005, 4.0, 120)])])

    def vp_basis(self, nonlinear, X):
        lx = np.log(X["x"])
        alpha = nonlinear[:, 0:1]
        return np.stack([np.exp(self.sign * alpha * lx), np.ones_like(alpha * lx)], axis=-1)

    def vp_assemble(self, nonlinear, coefs):
        return np.column_stack([np.log(coefs[:, 0]), nonlinear[:, 0], np.log(coefs[:, 1])])


class KaplanN(Law):
    """Kaplan et al. 2020, Eq. 1.1: L(N) = (N_c / N)^alpha_N."""

    name = "kaplan-n"
    formula = "(N_c/N)^alpha_N"
    inputs = ("N",)
    _col, _scale, _exp = "N", "N_c", "alpha_N"

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self._params = (
            Param(self._scale, "log", -20.0, 200.0, (25.0, 30.0, 35.0)),
            Param(self._exp, "id", 1e-4, 5.0, (0.03, 0.08, 0.2, 0.5)),
        )
        super().__init__(fixed)

    def _log_predict(self, theta, X):
        lx = np.log(X[self._col])
        return theta[:, 1:2] * (theta[:, 0:1] - lx)

    def _log_jacobian(self, theta, X):
        lx = np.log(X[self._col])
        diff = theta[:, 0:1] - lx
        f = theta[:, 1:2] * diff
        return f, np.stack([theta[:, 1:2] + 0.0 * diff, diff], axis=-1)

    def data_grid(self, X, y):
        slope, intercept = np.polyfit(np.log(X[self._col]), np.log(y), 1)
        alpha = max(-slope, 1e-3)
        return np.vstack([[intercept / alpha, alpha], self.product_grid()])


class KaplanD(KaplanN):
    """Kaplan et al. 2020, Eq. 1.2: L(D) = (D_c / D)^alpha_D."""

    name = "kaplan-d"
    formula = "(D_c/D)^alpha_D"
    inputs = ("D",)
    _col, _scale, _exp = "D", "D_c", "alpha_D"


class KaplanND(Law):
    """Kaplan et al. 2020, Eq. 1.5: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

    name = "kaplan-nd"
    formula = "[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    inputs = ("N", "D")

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self._params = (
            Param("N_c", "log", -20.0, 200.0, (30.0,)),
            Param("D_c", "log", -20.0, 200.0, (30.0,)),
            Param("alpha_N", "id", 1e-4, 5.0, (0.03, 0.08, 0.2, 0.5)),
            Param("alpha_D", "id", 1e-4, 5.0, (0.03, 0.08, 0.2, 0.5)),
        )
        super().__init__(fixed)

    def _log_predict(self, theta, X):
        lN, lD = np.log(X["N"]), np.log(X["D"])
        lnc, ldc, aN, aD = (theta[:, i:i + 1] for i in range(4))
        return aD * _lse((aN / aD) * (lnc - lN), ldc - lD)

    def data_grid(self, X, y):
        lN, lD, ly = np.log(X["N"]), np.log(X["D"]), np.log(y)
        rows = []
        for aN in (0.03, 0.08, 0.2, 0.5):
            for aD in (0.03, 0.08, 0.2, 0.5):
                # Each term alone would give log L = alpha (log scale - log x); take the
                # scale that puts that term at the median of the data.
                rows.append([np.median(lN + ly / aN), np.median(lD + ly / aD), aN, aD])
        return np.array(rows)


class KaplanNS(Law):
    """Kaplan et al. 2020, Eq. 1.6: L(N, S) = (N_c/N)^alpha_N + (S_c/S)^alpha_S."""

    name = "kaplan-ns"
    formula = "(N_c/N)^alpha_N + (S_c/S)^alpha_S"
    inputs = ("N", "S")

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self._params = (
            Param("N_c", "log", -20.0, 200.0, (30.0,)),
            Param("S_c", "log", -20.0, 200.0, (8.0,)),
            Param("alpha_N", "id", 1e-4, 5.0, (0.03, 0.08, 0.2, 0.5)),
            Param("alpha_S", "id", 1e-4, 5.0, (0.1, 0.3, 0.8, 1.5)),
        )
        super().__init__(fixed)

    def _log_predict(self, theta, X):
        lN, lS = np.log(X["N"]), np.log(X["S"])
        lnc, lsc, aN, aS = (theta[:, i:i + 1] for i in range(4))
        return _lse(aN * (lnc - lN), aS * (lsc - lS))

    def data_grid(self, X, y):
        lN, lS, ly = np.log(X["N"]), np.log(X["S"]), np.log(y)
        rows = []
        for aN in (0.03, 0.08, 0.2, 0.5):
            for aS in (0.1, 0.3, 0.8, 1.5):
                # Each term at half the median loss.
                half = ly - math.log(2.0)
                rows.append([np.median(lN + half / aN), np.median(lS + half / aS), aN, aS])
        return np.array(rows)


# ----------------------------------------------------------------------------------
# Chinchilla and data-constrained
# ----------------------------------------------------------------------------------
CHINCHILLA_GRID = {
    # Hoffmann et al. 2022, App. D.2: the initialisation grid of the Approach-3 fit,
    # in the log-parametrisation (e = log E, a = log A, b = log B).
    "E": tuple(np.arange(-1.0, 1.0 + 1e-9, 0.5)),
    "A": tuple(np.arange(0.0, 25.0 + 1e-9, 5.0)),
    "B": tuple(np.arange(0.0, 25.0 + 1e-9, 5.0)),
    "alpha": tuple(np.arange(0.0, 2.0 + 1e-9, 0.5)),
    "beta": tuple(np.arange(0.0, 2.0 + 1e-9, 0.5)),
}


class Chinchilla(Law):
    """Hoffmann et al. 2022, Eq. 2: L(N, D) = E + A/N^alpha + B/D^beta, fitted as
    log L = LSE(a - alpha log N, b - beta log D, e). ``tied=True`` sets beta = alpha
    (as Muennighoff et al. 2023 did)."""

    name = "chinchilla"
    inputs = ("N", "D")

    def __init__(self, tied: bool = False, fixed: Mapping[str, float] | None = None):
        self.tied = bool(tied)
        g = CHINCHILLA_GRID
        params = [
            Param("E", "log", -12.0, 5.0, g["E"]),
            Param("A", "log", -10.0, 80.0, g["A"]),
            Param("B", "log", -10.0, 80.0, g["B"]),
            Param("alpha", "id", 0.0, 4.0, g["alpha"]),
        ]
        if not self.tied:
            params.append(Param("beta", "id", 0.0, 4.0, g["beta"]))
        self._params = tuple(params)
        self.linear = ("E", "A", "B")
        self.formula = "E + A/N^alpha + B/D^alpha" if self.tied else "E + A/N^alpha + B/D^beta"
        super().__init__(fixed)

    def _options(self):
        return {"tied": self.tied}

    def _derived(self, public):
        # the compute-optimal exponents N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann et al. 2022, Eq. 4)
        alpha = public["alpha"]
        beta = alpha if self.tied else public["beta"]
        total = alpha + beta
        ab = ({"a": beta / total, "b": alpha / total} if total > 0 else {"a": math.nan, "b": math.nan})
        return ({"beta": alpha} if self.tied else {}) | ab

    def derived_note(self, name):
        return {"a": "derived: beta/(alpha+beta), N_opt ∝ C^a", "b": "derived: alpha/(alpha+beta), D_opt ∝ C^b",
                "beta": "tied to alpha"}.get(name, "derived")

    def derived_from(self, name):
        if name in ("a", "b"):
            return ("alpha",) if self.tied else ("alpha", "beta")
        return ("alpha",) if (self.tied and name == "beta") else super().derived_from(name)

    def _terms(self, theta, X):
        lN, lD = np.log(X["N"]), np.log(X["D"])
        beta = theta[:, 3:4] if self.tied else theta[:, 4:5]
        tN = theta[:, 1:2] - theta[:, 3:4] * lN
        tD = theta[:, 2:3] - beta * lD
        tE = np.broadcast_to(theta[:, 0:1], tN.shape)
        return lN, lD, tN, tD, tE

    def _log_predict(self, theta, X):
        _, _, tN, tD, tE = self._terms(theta, X)
        return _lse(tN, tD, tE)

    def _log_jacobian(self, theta, X):
        # Written for speed: this is the inner loop of multi-start fits and bootstraps.
        lN, lD, tN, tD, tE = self._terms(theta, X)
        m = np.maximum(np.maximum(tN, tD), tE)
        eN = np.exp(tN - m)
        eD = np.exp(tD - m)
        eE = np.exp(tE - m)
        total = eN + eD + eE
        f = m + np.log(total)
        inv = 1.0 / total
        jac = np.empty(f.shape + (len(self.params),))
        jac[..., 0] = eE * inv
        jac[..., 1] = wN = eN * inv
        jac[..., 2] = wD = eD * inv
        if self.tied:
            jac[..., 3] = -(wN * lN + wD * lD)
        else:
            jac[..., 3] = -wN * lN
            jac[..., 4] = -wD * lD
        return f, jac

    def named_grid(self, name):
        if name == "chinchilla-4500":
            if self.tied or self.fixed:
                raise ValueError("the chinchilla-4500 grid is for the untied, unfixed form")
            return self.product_grid()
        return super().named_grid(name)

    def vp_grid(self, X):
        exps = np.concatenate([np.linspace(0.02, 1.0, 50), np.linspace(1.05, 2.5, 15)])
        if self.tied:
            return exps[:, None]
        return np.array(list(itertools.product(exps, exps)))

    def vp_basis(self, nonlinear, X):
        lN, lD = np.log(X["N"]), np.log(X["D"])
        alpha = nonlinear[:, 0:1]
        beta = alpha if self.tied else nonlinear[:, 1:2]
        return np.stack([np.ones_like(alpha * lN), np.exp(-alpha * lN), np.exp(-beta * lD)], axis=-1)

    def vp_assemble(self, nonlinear, coefs):
        return np.column_stack([np.log(coefs), nonlinear])


class DataConstrained(Law):
    """Muennighoff et al. 2023, Eq. 5-6: Chinchilla's form in effective data D' and
    effective parameters N', which discount repeated epochs and excess parameters:

        U_D = min(U, D),  R_D = D/U_D - 1,  D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*))
        U_N = min(N_opt(U_D), N),  R_N = max(N/U_N - 1, 0),
        N' = U_N + U_N R_N* (1 - exp(-R_N/R_N*)),  L = E + A/N'^alpha + B/D'^beta

    where N_opt(U_D) is the Chinchilla-optimal size for U_D tokens. Columns: ``N``,
    ``D`` (tokens seen) and ``U`` (unique tokens). The paper fits R_D*, R_N* with the
    base law held fixed: ``DataConstrained(fixed={"E": ..., "A": ..., ...})``."""

    name = "data-constrained"
    formula = "E + A/N'^alpha + B/D'^beta"
    inputs = ("N", "D", "U")

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self._params = (
            Param("E", "log", -12.0, 5.0, (0.0, 0.5)),
            Param("A", "log", -10.0, 80.0, (5.0, 10.0)),
            Param("B", "log", -10.0, 80.0, (5.0, 10.0)),
            Param("alpha", "id", 0.0, 4.0, (0.3, 0.6)),
            Param("beta", "id", 0.0, 4.0, (0.3, 0.6)),
            Param("R_D_star", "log", math.log(1e-3), math.log(1e6), _log_grid(1.0, 100.0, 6)),
            Param("R_N_star", "log", math.log(1e-3), math.log(1e6), _log_grid(1.0, 100.0, 6)),
        )
        super().__init__(fixed)

    @staticmethod
    def effective(theta, X):
        """Effective (N', D') for internal vectors (S, 7): the decay of repeated data
        and of parameters beyond the optimal size for the unique data."""
        lE, a, b, alpha, beta, lrd, lrn = (theta[:, i:i + 1] for i in range(7))
        N, D, U = X["N"], X["D"], X["U"]
        UD = np.minimum(U, D)
        RD = D / UD - 1.0
        rd = np.exp(lrd)
        Dp = UD + UD * rd * (1.0 - np.exp(-RD / rd))
        # Chinchilla frontier (Hoffmann Eq. 4): D_opt = G^-1 (C/6)^b, N_opt = G (C/6)^a,
        # so N_opt(U_D) = G (U_D G)^(beta/alpha).
        logG = (np.log(alpha) + a - np.log(beta) - b) / (alpha + beta)
        log_nopt = logG + (beta / alpha) * (np.log(UD) + logG)
        UN = np.minimum(np.exp(log_nopt), N)
        RN = np.maximum(N / UN - 1.0, 0.0)
        rn = np.exp(lrn)
        Np = UN + UN * rn * (1.0 - np.exp(-RN / rn))
        return Np, Dp

    def _log_predict(self, theta, X):
        Np, Dp = self.effective(theta, X)
        lE, a, b, alpha, beta = (theta[:, i:i + 1] for i in range(5))
        return _lse(a - alpha * np.log(Np), b - beta * np.log(Dp), lE + 0.0 * Np)


# ----------------------------------------------------------------------------------
# Broken neural scaling law
# ----------------------------------------------------------------------------------
class BrokenPowerLaw(Law):
    """Caballero et al. 2022: y = a + b x^(-c0) prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)
    with k breaks at d_i; c_i changes the slope, f_i sets the sharpness of break i."""

    name = "bnsl"
    inputs = ("x",)

    def __init__(self, breaks: int = 1, fixed: Mapping[str, float] | None = None):
        if int(breaks) != breaks or breaks < 0:
            raise ValueError(f"breaks={breaks!r} must be an integer >= 0")
        self.breaks = int(breaks)
        params = [
            Param("a", "log", -40.0, 10.0, (-3.0, -1.0)),
            Param("b", "log", -40.0, 40.0, (0.0,)),
            Param("c0", "id", -5.0, 10.0, (0.0, 0.1, 0.5)),
        ]
        for i in range(1, self.breaks + 1):
            params.append(Param(f"c{i}", "id", -20.0, 50.0, (0.3, 1.0, 3.0)))
        for i in range(1, self.breaks + 1):
            params.append(Param(f"d{i}", "log", -40.0, 60.0, (0.0,)))
        for i in range(1, self.breaks + 1):
            params.append(Param(f"f{i}", "log", math.log(1e-3), math.log(100.0), _log_grid(0.03, 3.0, 3)))
        self._params = tuple(params)
        self.linear = ("a", "b")
        self.formula = "a + b·x^(−c0)·Π(1 + (x/d_i)^(1/f_i))^(−c_i·f_i)"
        super().__init__(fixed)

    def _options(self):
        return {"breaks": self.breaks}

    def _shape(self, nonlinear, lx):
        """log of b x^-c0 prod(...) / b for nonlinear (c0, c_i, log d_i, log f_i)."""
        k = self.breaks
        out = -nonlinear[:, 0:1] * lx
        for i in range(k):
            c = nonlinear[:, 1 + i:2 + i]
            ld = nonlinear[:, 1 + k + i:2 + k + i]
            f = np.exp(nonlinear[:, 1 + 2 * k + i:2 + 2 * k + i])
            out = out - c * f * np.logaddexp(0.0, (lx - ld) / f)
        return out

    def _log_predict(self, theta, X):
        lx = np.log(X["x"])
        shape = self._shape(theta[:, 2:], lx)
        return _lse(theta[:, 0:1] + 0.0 * shape, theta[:, 1:2] + shape)

    def data_grid(self, X, y):
        grid = self.product_grid()
        lx = np.log(np.asarray(X["x"]))
        for i in range(self.breaks):  # breaks start inside the observed range
            grid[:, 3 + self.breaks + i] = np.median(lx)
        return grid

    def vp_grid(self, X):
        k = self.breaks
        c0 = (0.0, 0.03, 0.1, 0.3, 0.6, 1.0)
        cs = (0.3, 1.0, 2.0, 4.0, 8.0)
        lx = np.log(np.asarray(X["x"]))
        ds = tuple(np.linspace(lx.min(), lx.max(), 10))
        fs = _log_grid(0.02, 2.0, 6)
        axes = [c0] + [cs] * k + [ds] * k + [fs] * k
        grid = np.array(list(itertools.product(*axes)), dtype=float)
        if len(grid) > 60000:  # many breaks: a deterministic subsample keeps it bounded
            grid = grid[np.linspace(0, len(grid) - 1, 60000).astype(int)]
        return grid

    def vp_basis(self, nonlinear, X):
        lx = np.log(X["x"])
        shape = self._shape(nonlinear, lx)
        return np.stack([np.ones_like(shape), np.exp(shape)], axis=-1)

    def vp_assemble(self, nonlinear, coefs):
        return np.column_stack([np.log(coefs[:, 0]), np.log(coefs[:, 1]), nonlinear])


class LogLogLine(Law):
    """log y = intercept + slope * log x (a power law with a signed slope)."""

    name = "loglog-line"
    formula = "log y = intercept + slope·log x"
    inputs = ("x",)

    def __init__(self, fixed: Mapping[str, float] | None = None):
        self._params = (Param("slope", "id", -50.0, 50.0, (0.0,)),
                        Param("intercept", "id", -500.0, 500.0, (0.0,)))
        super().__init__(fixed)

    def _log_predict(self, theta, X):
        return theta[:, 1:2] + theta[:, 0:1] * np.log(X["x"])


LAWS = {
    "loglog-line": LogLogLine,
    "power": lambda **kw: PowerLaw(offset=False, **kw),
    "power-offset": lambda **kw: PowerLaw(offset=True, **kw),
    "kaplan-n": KaplanN,
    "kaplan-d": KaplanD,
    "kaplan-nd": KaplanND,
    "kaplan-ns": KaplanNS,
    "chinchilla": Chinchilla,
    "chinchilla-tied": lambda **kw: Chinchilla(tied=True, **kw),
    "data-constrained": DataConstrained,
    "bnsl": BrokenPowerLaw,
}


def get_law(law: "str | Law | Mapping[str, Any]", **options) -> Law:
    """A law from its name (``"chinchilla"``), a spec dict (``Law.spec()``) or itself."""
    if isinstance(law, Law):
        return law
    if isinstance(law, Mapping):
        spec = dict(law)
        name = spec.pop("name")
        return get_law(name, **{**spec, **options})
    if not isinstance(law, str) or law not in LAWS:
        raise ValueError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
    # "power" + offset=True and "chinchilla" + tied=True are the registered variants
    if law.startswith("power"):
        law = "power-offset" if (options.pop("offset", False) or law == "power-offset") else "power"
    elif law.startswith("chinchilla"):
        law = "chinchilla-tied" if (options.pop("tied", False) or law == "chinchilla-tied") else "chinchilla"
    return LAWS[law](**options)


__all__ = [
    "Law", "Param", "PowerLaw", "KaplanN", "KaplanD", "KaplanND", "KaplanNS", "Chinchilla",
    "DataConstrained", "BrokenPowerLaw", "LogLogLine", "LAWS", "get_law", "CHINCHILLA_GRID",
]
