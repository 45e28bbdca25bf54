"""The gradient noise scale and the large-batch runs of McCandlish et al. (2018).

The simple noise scale is ``B_simple = tr(Σ) / |G|²``: ``G`` the true gradient, ``Σ`` the
per-example gradient covariance (McCandlish et al. 2018, Eq. 2.8–2.9). It is estimated
from squared gradient norms measured at two batch sizes (their App. A.1): with
``E|G_B|² = |G|² + tr(Σ)/B``,

    |G|²  ≈ (B_big·|G_big|² − B_small·|G_small|²) / (B_big − B_small)
    tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)

Each is unbiased; their ratio is not, so numerator and denominator are averaged over many
measurements first and the ratio taken last (:func:`noise_scale`; :func:`running_noise_scale`
for the exponential moving averages the paper tracks during training).

    g2_small, g2_big = gradient_norms(model, loss_fn, x, y, b_small=16)   # one measurement
    est = noise_scale(g2_small_list, g2_big_list, b_small=16, b_big=1024, bootstrap=1000)
    est.value, est.interval, est.g2, est.trace, est.n

:func:`gradient_norms` measures the two norms as in data-parallel training: the gradient
of each ``b_small`` chunk of a batch, their mean being the big-batch gradient.

Run functions for :func:`scalinglab.sweep.run_sweep` (torch loads on first call), on a
synthetic classification stream (Gaussian inputs, labels *sampled* from a random tanh
teacher's softmax, so the Bayes loss is above zero and fresh data never runs out):

* :func:`steps_to_target_run`: plain SGD at one batch size and learning rate until a
  held-out loss reaches a target; steps and examples to the target.
* :func:`noise_scale_run`: SGD at one batch size, measuring the two gradient norms at
  points along training; the curve holds the per-measurement norms and the loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from scalinglab.fit.resample import bootstrap_interval


# --------------------------------------------------------------------------- estimator

def _check_batches(b_small: float, b_big: float) -> None:
    if not (b_small > 0 and b_big > b_small):
        raise ValueError(f"need 0 < b_small < b_big, got b_small={b_small!r}, b_big={b_big!r}")


def two_batch_estimates(g2_small: Any, g2_big: Any, b_small: float, b_big: float):
    """Per-measurement unbiased estimates ``(|G|², tr Σ)`` from ``|G_small|²`` and
    ``|G_big|²`` (arrays of equal length; McCandlish et al. 2018, App. A.1)."""
    _check_batches(b_small, b_big)
    s = np.asarray(g2_small, dtype=float)
    b = np.asarray(g2_big, dtype=float)
    if s.shape != b.shape:
        raise ValueError(f"g2_small and g2_big differ in shape: {s.shape} vs {b.shape}")
    g2 = (b_big * b - b_small * s) / (b_big - b_small)
    trace = (s - b) / (1.0 / b_small - 1.0 / b_big)
    return g2, trace


@dataclass
class NoiseScale:
    """A simple-noise-scale estimate: ``value = trace / g2`` (ratio of the averaged
    estimates), ``n`` measurements, ``interval`` a percentile bootstrap over measurements
    (None without one, or when too few resamples have a positive |G|²)."""

    value: float
    g2: float
    trace: float
    n: int
    interval: tuple[float, float] | None = None
    level: float = 0.95
    g2_samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    trace_samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def summary(self, digits: int = 3) -> str:
        band = (f" [{self.interval[0]:.{digits}g}, {self.interval[1]:.{digits}g}]"
                if self.interval else "")
        return f"B_simple = {self.value:.{digits}g}{band} from {self.n} measurements"

    def __str__(self) -> str:
        return self.summary()


def _ratio_of_means(g2: np.ndarray, trace: np.ndarray) -> float:
    den = float(np.mean(g2))
    return float(np.mean(trace)) / den if den > 0 else math.nan


def noise_scale(g2_small: Any, g2_big: Any, b_small: float, b_big: float, *,
                bootstrap: int = 0, seed: int = 0, level: float = 0.95) -> NoiseScale:
    """``B_simple`` from measurements of ``|G_small|²`` and ``|G_big|²``: the mean of the
    tr Σ estimates over the mean of the |G|² estimates. ``bootstrap`` resamples of the
    measurements give a percentile interval (needs at least 2 measurements)."""
    g2, trace = two_batch_estimates(g2_small, g2_big, b_small, b_big)
    g2, trace = g2.ravel(), trace.ravel()
    if g2.size == 0:
        raise ValueError("noise_scale needs at least one measurement")
    value = _ratio_of_means(g2, trace)
    interval = None
    if bootstrap and g2.size >= 2:
        interval = bootstrap_interval(_ratio_of_means, g2, trace, n_boot=bootstrap, seed=seed,
                                      level=level)
    return NoiseScale(value=value, g2=float(np.mean(g2)), trace=float(np.mean(trace)), n=int(g2.size),
                      interval=interval, level=level, g2_samples=g2, trace_samples=trace)


def noise_scale_growth(late: NoiseScale, early: NoiseScale, *, bootstrap: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, tuple[float, float] | None]:
    """``late.value / early.value`` with a percentile interval from resampling the two
    sets of measurements independently (each needs its per-measurement samples)."""
    value = late.value / early.value if early.value else math.nan
    if not bootstrap or late.n < 2 or early.n < 2:
        return value, None
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(int(bootstrap)):
        i = rng.integers(0, late.n, late.n)
        j = rng.integers(0, early.n, early.n)
        num = _ratio_of_means(late.g2_samples[i], late.trace_samples[i])
        den = _ratio_of_means(early.g2_samples[j], early.trace_samples[j])
        ratios.append(num / den if den > 0 else math.nan)
    ratios = np.asarray(ratios)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if len(ratios) < bootstrap / 2:
        return value, None
    tail = 50 * (1 - level)
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return value, (float(lo), float(hi))


def running_noise_scale(g2_small: Any, g2_big: Any, b_small: float, b_big: float,
                        decay: float = 0.9) -> np.ndarray:
    """``B_simple`` after each measurement from bias-corrected exponential moving averages
    of the tr Σ and |G|² estimates (the paper's way of tracking it during training)."""
    if not 0 <= decay < 1:
        raise ValueError(f"decay={decay!r} must be in [0, 1)")
    g2, trace = two_batch_estimates(g2_small, g2_big, b_small, b_big)
    out = np.empty(g2.size)
    m_g2 = m_tr = 0.0
    for k, (a, t) in enumerate(zip(g2.ravel(), trace.ravel())):
        m_g2 = decay * m_g2 + (1 - decay) * a
        m_tr = decay * m_tr + (1 - decay) * t
        corr = 1 - decay ** (k + 1)
        out[k] = (m_tr / corr) / (m_g2 / corr) if m_g2 > 0 else math.nan
    return out


def gradient_norms(model: Any, loss_fn: Callable, x: Any, y: Any, b_small: int) -> tuple[float, float]:
    """``(|G_small|², |G_big|²)`` at the model's current parameters, from one batch
    ``(x, y)`` of ``B_big`` examples split into chunks of ``b_small`` (``B_big`` a
    multiple of it, at least two chunks): the gradient of each chunk's mean loss, the
    mean of their squared norms, and the squared norm of their mean (the big-batch
    gradient), as data-parallel workers would see them. ``loss_fn(output, target)``
    returns the mean loss of a batch."""
    import torch
    from torch.func import functional_call, grad, vmap

    n = x.shape[0]
    if b_small < 1 or n % b_small or n // b_small < 2:
        raise ValueError(f"batch of {n} cannot be split into at least two chunks of {b_small}")
    params = {k: v.detach() for k, v in model.named_parameters()}

    def chunk_loss(p, xc, yc):
        return loss_fn(functional_call(model, p, (xc,)), yc)

    k = n // b_small
    grads = vmap(grad(chunk_loss), in_dims=(None, 0, 0))(
        params, x.reshape(k, b_small, *x.shape[1:]), y.reshape(k, b_small, *y.shape[1:]))
    flat = torch.cat([g.reshape(k, -1) for g in grads.values()], dim=1).double()
    g2_small = float(flat.pow(2).sum(dim=1).mean())
    g2_big = float(flat.mean(dim=0).pow(2).sum())
    return g2_small, g2_big


# --------------------------------------------------------------------------- run functions

STREAM_DEFAULTS: dict[str, Any] = {
    "d_in": 16,             # Gaussian input dimension
    "n_classes": 10,
    "teacher_width": 64,    # one tanh hidden layer
    "teacher_gain": 4.0,    # teacher logit scale: larger, less label noise (lower Bayes loss)
    "teacher_seed": 0,
    "width": 64,            # student: ReLU MLP of `depth` hidden layers
    "depth": 2,
    "n_eval": 2048,         # fixed held-out set for the loss
    "seed": 0,              # student initialisation and the training stream
}

TARGET_DEFAULTS: dict[str, Any] = {**STREAM_DEFAULTS, "batch": 32, "lr": 0.1, "target": 1.0,
                                   "max_steps": 20_000, "eval_growth": 1.03}
NOISE_DEFAULTS: dict[str, Any] = {**STREAM_DEFAULTS, "batch": 32, "lr": 0.1, "steps": 2000,
                                  "measure_points": 40, "repeats": 4, "b_small": 16, "b_big": 1024}


def _config(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - set(defaults) - {"device", "dtype"})
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    cfg = {**defaults, **config}
    for key in ("d_in", "n_classes", "teacher_width", "width", "n_eval", "batch"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ValueError(f"{key}={cfg[key]!r} must be a positive integer")
    if not cfg["lr"] > 0:
        raise ValueError(f"lr={cfg['lr']!r} must be positive")
    return cfg


class _Stream:
    """Gaussian inputs, labels sampled from softmax(gain · teacher(x)), a fixed eval set."""

    def __init__(self, cfg: dict[str, Any]):
        import torch
        self.torch = torch
        self.cfg = cfg
        g = torch.Generator().manual_seed(50_000 + cfg["teacher_seed"])
        d, w, c = cfg["d_in"], cfg["teacher_width"], cfg["n_classes"]
        self.w1 = torch.randn(d, w, generator=g) / math.sqrt(d)
        self.b1 = torch.randn(w, generator=g) * 0.5
        self.w2 = torch.randn(w, c, generator=g) * cfg["teacher_gain"] / math.sqrt(w)
        eval_gen = torch.Generator().manual_seed(60_000 + cfg["teacher_seed"])
        self.x_eval, self.y_eval = self.sample(cfg["n_eval"], eval_gen)
        p = torch.softmax(self.logits(self.x_eval), dim=1)
        self.bayes_loss = float(-(p * torch.log(p.clamp_min(1e-30))).sum(1).mean())
        self.gen = torch.Generator().manual_seed(70_000 + cfg["seed"])

    def logits(self, x):
        return self.torch.tanh(x @ self.w1 + self.b1) @ self.w2

    def sample(self, n: int, gen=None):
        torch = self.torch
        gen = self.gen if gen is None else gen
        x = torch.randn(n, self.cfg["d_in"], generator=gen)
        y = torch.multinomial(torch.softmax(self.logits(x), dim=1), 1, generator=gen).squeeze(1)
        return x, y


def _student(cfg: dict[str, Any]):
    import torch
    from scalinglab.models.mlp import MLP, MLPConfig
    torch.manual_seed(cfg["seed"])
    return MLP(MLPConfig(d_in=cfg["d_in"], width=cfg["width"], depth=cfg["depth"],
                         d_out=cfg["n_classes"], activation="relu", init="fan_in"))


def _eval_loss(model, stream) -> float:
    import torch
    import torch.nn.functional as F
    with torch.no_grad():
        return float(F.cross_entropy(model(stream.x_eval), stream.y_eval))


def steps_to_target_run(config: dict[str, Any]) -> dict[str, Any]:
    """Plain SGD (constant ``lr``, batch ``batch``) on the teacher stream until the
    held-out loss is at most ``target``; the loss is evaluated at steps growing by the
    factor ``eval_growth`` (every step at first), so steps-to-target are resolved to that
    factor. Metrics: ``reached``, ``steps`` and ``examples`` to the target (the run's
    last step when not reached), ``final_loss``, ``bayes_loss``, ``params``."""
    import torch
    import torch.nn.functional as F

    cfg = _config(config, TARGET_DEFAULTS)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    stream = _Stream(cfg)
    model = _student(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    curve_step, curve_loss = [0], [_eval_loss(model, stream)]
    reached, step, next_eval = False, 0, 1
    loss = curve_loss[0]
    while step < cfg["max_steps"]:
        x, y = stream.sample(cfg["batch"])
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        step += 1
        if step >= next_eval:
            loss = _eval_loss(model, stream)
            curve_step.append(step)
            curve_loss.append(loss)
            next_eval = max(step + 1, math.ceil(step * cfg["eval_growth"]))
            if not math.isfinite(loss) or loss > 10 * curve_loss[0]:
                break
            if loss <= cfg["target"]:
                reached = True
                break
    return {"reached": reached, "steps": step, "examples": step * cfg["batch"],
            "final_loss": loss if math.isfinite(loss) else 1e9, "bayes_loss": stream.bayes_loss,
            "params": model.num_parameters(),
            "curve": {"step": curve_step, "loss": [x if math.isfinite(x) else 1e9 for x in curve_loss]}}


def noise_scale_run(config: dict[str, Any]) -> dict[str, Any]:
    """Plain SGD at ``batch`` and ``lr`` for ``steps`` steps, measuring ``|G_small|²``
    and ``|G_big|²`` (``repeats`` fresh batches of ``b_big`` split into chunks of
    ``b_small``) and the held-out loss at ``measure_points`` steps spaced geometrically
    from 1 to ``steps``. The curve has one row per measurement."""
    import torch
    import torch.nn.functional as F

    cfg = _config(config, NOISE_DEFAULTS)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    stream = _Stream(cfg)
    model = _student(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    meas_gen = torch.Generator().manual_seed(80_000 + cfg["seed"])
    points = sorted(set(int(round(s)) for s in np.geomspace(1, cfg["steps"], cfg["measure_points"])))
    curve = {"step": [], "loss": [], "g2_small": [], "g2_big": []}
    step = 0
    for point in points:
        while step < point:
            x, y = stream.sample(cfg["batch"])
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            step += 1
        loss = _eval_loss(model, stream)
        for _ in range(cfg["repeats"]):
            x, y = stream.sample(cfg["b_big"], meas_gen)
            g2s, g2b = gradient_norms(model, F.cross_entropy, x, y, cfg["b_small"])
            curve["step"].append(step)
            curve["loss"].append(loss)
            curve["g2_small"].append(g2s)
            curve["g2_big"].append(g2b)
    return {"final_loss": curve["loss"][-1], "bayes_loss": stream.bayes_loss,
            "params": model.num_parameters(), "b_small": cfg["b_small"], "b_big": cfg["b_big"],
            "curve": curve}


__all__ = ["NoiseScale", "two_batch_estimates", "noise_scale", "noise_scale_growth",
           "running_noise_scale", "gradient_norms", "steps_to_target_run", "noise_scale_run",
           "STREAM_DEFAULTS", "TARGET_DEFAULTS", "NOISE_DEFAULTS"]
