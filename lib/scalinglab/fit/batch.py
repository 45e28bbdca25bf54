"""The steps-versus-batch trade-off of data-parallel training, and the critical batch size.

McCandlish et al. (2018) model the optimiser steps ``S`` and examples ``E = B·S`` needed
to reach a fixed loss at batch size ``B`` as

    S(B) = S_min · (1 + B_crit / B),        E(B) = E_min · (1 + B / B_crit),

equivalently ``(S/S_min − 1)(E/E_min − 1) = 1``, with ``E_min = S_min · B_crit``. In the
form Zhang et al. (2024) fit, ``S(B) = a + b/B``: ``a = S_min``, ``b = E_min`` and
``B_crit = b/a``.

Two ways to read one number off the curve:

* ``B_crit`` (McCandlish): the batch where both steps and examples are twice their
  minimum;
* the batch at a stated overhead (Zhang et al. use 20%): the batch whose examples are
  ``1 + overhead`` times ``E_min`` (``B = overhead · B_crit``), or whose steps are
  ``1 + overhead`` times ``S_min`` (``B = B_crit / overhead``).

    tradeoff = fit_batch_tradeoff(frame, columns={"x": "batch", "loss": "steps"},
                                  bootstrap=200)
    tradeoff.b_crit, tradeoff.interval("b_crit"), tradeoff.batch_at_overhead(0.2)

The fit is :class:`~scalinglab.fit.laws.PowerLaw` with an offset and its exponent fixed
at 1 (``S = A·B^−1 + E``), least squares on log steps by default, so it prints its
choices and carries the usual convergence and bound flags.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from scalinglab.fit.api import fit_law
from scalinglab.fit.laws import PowerLaw
from scalinglab.fit.result import FitResult

QUANTITIES = ("s_min", "e_min", "b_crit")


@dataclass
class BatchTradeoff:
    """A fitted ``S(B) = S_min·(1 + B_crit/B)``: ``fit`` is the underlying
    :class:`FitResult` (``A`` = E_min, ``E`` = S_min, ``alpha`` fixed at 1)."""

    fit: FitResult

    @property
    def s_min(self) -> float:
        return float(self.fit.params["E"])

    @property
    def e_min(self) -> float:
        return float(self.fit.params["A"])

    @property
    def b_crit(self) -> float:
        return self.e_min / self.s_min

    @property
    def ok(self) -> bool:
        """Converged, and neither S_min nor E_min on a bound of its range."""
        return bool(self.fit.converged) and not self.fit.at_bound

    def _value(self, name: str, params: Mapping[str, float]) -> float:
        if name == "s_min":
            return float(params["E"])
        if name == "e_min":
            return float(params["A"])
        if name == "b_crit":
            return float(params["A"]) / float(params["E"])
        raise KeyError(f"unknown quantity {name!r}; one of {', '.join(QUANTITIES)}")

    def interval(self, name: str, level: float | None = None) -> tuple[float, float] | None:
        """Bootstrap percentile interval of ``s_min``, ``e_min`` or ``b_crit`` (None
        without a bootstrap or when S_min or E_min is bound-limited)."""
        if name not in QUANTITIES:
            raise KeyError(f"unknown quantity {name!r}; one of {', '.join(QUANTITIES)}")
        return self.fit.derived(lambda p: self._value(name, p), level, uses=("A", "E"))[1]

    def batch_at_overhead(self, overhead: float = 0.2, on: str = "examples",
                          level: float | None = None) -> tuple[float, tuple[float, float] | None]:
        """The batch whose ``on`` ("examples" or "steps") is ``1 + overhead`` times its
        minimum, with its bootstrap interval."""
        if not overhead > 0:
            raise ValueError(f"overhead={overhead!r} must be positive (0.2 means 20%)")
        if on == "examples":
            fn = lambda p: overhead * self._value("b_crit", p)  # noqa: E731
        elif on == "steps":
            fn = lambda p: self._value("b_crit", p) / overhead  # noqa: E731
        else:
            raise ValueError(f"on={on!r} must be 'examples' or 'steps'")
        return self.fit.derived(fn, level, uses=("A", "E"))

    def steps(self, batch) -> Any:
        """Predicted steps at ``batch`` (scalar or array)."""
        return self.s_min * (1.0 + self.b_crit / batch)

    def summary(self, digits: int = 3) -> str:
        def fmt(name: str) -> str:
            value = getattr(self, name)
            iv = self.interval(name)
            band = f" [{iv[0]:.{digits}g}, {iv[1]:.{digits}g}]" if iv else ""
            return f"{name} = {value:.{digits}g}{band}"
        return " · ".join(fmt(n) for n in QUANTITIES)

    def __str__(self) -> str:
        return self.summary()


def fit_batch_tradeoff(data: Any, y: Any = None, *, columns: Mapping[str, str] | None = None,
                       objective: str = "lsq", bootstrap: int = 0, seed: int = 0,
                       level: float = 0.95, verbose: bool = True, **fit_options: Any) -> BatchTradeoff:
    """Fit ``S(B) = S_min·(1 + B_crit/B)`` to steps-to-target measured at several batch
    sizes. ``data``: a frame or mapping with the batch sizes in role ``x`` and the steps
    in role ``loss`` (map them with ``columns={"x": "batch", "loss": "steps"}``). Needs
    at least three batch sizes. Other keywords go to :func:`~scalinglab.fit.fit_law`."""
    law = PowerLaw(offset=True, fixed={"alpha": 1.0})
    fit = fit_law(law, data, y, columns=columns, objective=objective, bootstrap=bootstrap,
                  seed=seed, level=level, verbose=verbose, **fit_options)
    return BatchTradeoff(fit)


__all__ = ["BatchTradeoff", "fit_batch_tradeoff", "QUANTITIES"]
