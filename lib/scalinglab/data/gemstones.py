"""Readers for the Gemstones release (McLeish et al. 2025, mcleish7/gemstone-scaling-laws).

Two kinds of files, both plain JSON (nothing is unpickled):

- ``wandb_dfs/wandb_df_for_fitting_<tag>.jsonl``: one checkpoint per line with
  ``run_name, params_active_precise, width, depth, tokens, step, ..., final_loss``.
  :func:`read_fit_inputs` returns it as a frame with the suite's roles: ``run``,
  ``N`` (active parameters), ``D`` (tokens seen), ``C`` = 6·N·D and ``loss``.
- ``parameters*/approach_*.json``: the released fitted laws.
  :func:`approach1_law` reads an approach-1 line ``ln y = coef·ln C + intercept``;
  :func:`approach3_law` reads an approach-3 fit of
  ``L = e^E + e^a/N^alpha + e^b/D^beta`` (``exponents = [alpha, beta]``,
  ``coefficients = [a, b]``, ``irreducible_error = E``, all in log form) and returns
  both the log form and the suite's Chinchilla names ``E, A, B, alpha, beta``.

Two pieces of the paper's approach 1 that the suite's fitting library does not have:

- :func:`flops_per_token`: the paper's FLOP count per token for a Gemstone of a given
  width and depth (GQA with 2 queries per key/value group, head size 128, GEGLU MLP of
  4x width, sequence 2048, RMSNorm, untied LM head; App. M of the paper), which is
  0.8-1.5 times 6·N depending on the shape.
- :func:`lower_hull`: the checkpoints on the lower convex hull of (log C, log loss), up
  to the lowest loss, the points the paper's approach 1 regresses log N and log D on
  (instead of an interpolated envelope).
"""
from __future__ import annotations

import json
import math
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIT_INPUT_COLUMNS = ("run_name", "params_active_precise", "width", "depth", "tokens", "step", "final_loss")


def _text(source: str | Path) -> str:
    """The text of ``source``: a path to a file, or the text itself (anything with a
    newline or a brace is taken as text)."""
    if isinstance(source, Path):
        return source.read_text()
    if "\n" in source or source.lstrip().startswith("{"):
        return source
    return Path(source).read_text()


def read_fit_inputs(source: str | Path) -> pd.DataFrame:
    """A ``wandb_df_for_fitting_*.jsonl`` file (path or text) as a frame with columns
    ``run, width, depth, step, N, D, loss, C, C_count`` (C = 6·N·D; C_count = the
    paper's own count, :func:`flops_per_token` x D), sorted by run and tokens."""
    text = _text(source)
    frame = pd.read_json(StringIO(text), lines=True)
    missing = [c for c in FIT_INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"not a Gemstones fit-input file: missing column(s) {', '.join(missing)}")
    out = pd.DataFrame({
        "run": frame["run_name"].astype(str),
        "width": frame["width"].astype(int),
        "depth": frame["depth"].astype(int),
        "step": frame["step"].astype(int),
        "N": frame["params_active_precise"].astype(float),
        "D": frame["tokens"].astype(float),
        "loss": frame["final_loss"].astype(float),
    })
    out["C"] = 6.0 * out["N"] * out["D"]
    out["C_count"] = flops_per_token(out["width"].to_numpy(float), out["depth"].to_numpy(float)) * out["D"]
    return out.sort_values(["run", "D"], kind="stable").reset_index(drop=True)


def _first(value: Any) -> Any:
    """pandas' ``to_json`` writes a one-row column as ``{"0": value}``: unwrap it."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"expected one fitted row, got {len(value)}")
        return next(iter(value.values()))
    return value


def approach1_law(source: str | Path) -> dict[str, Any]:
    """An approach-1 file: ``{"slope", "intercept", "label"}`` of ln y = slope·ln C + intercept."""
    obj = json.loads(_text(source))
    coef = obj["coef"]
    slope = float(coef[0] if isinstance(coef, (list, tuple)) else coef)
    return {"slope": slope, "intercept": float(obj["intercept"]), "label": str(obj.get("label", ""))}


def approach3_law(source: str | Path) -> dict[str, Any]:
    """An approach-3 file as ``{"alpha", "beta", "a", "b", "e", "E", "A", "B", "success",
    "objective"}``: the log-form values as released (a, b, e) and their exponentials
    (A = e^a, B = e^b, E = e^e), the names the suite's Chinchilla law uses."""
    obj = json.loads(_text(source))
    alpha, beta = (float(v) for v in _first(obj["exponents"]))
    a, b = (float(v) for v in _first(obj["coefficients"]))
    e = float(_first(obj["irreducible_error"]))
    out = {"alpha": alpha, "beta": beta, "a": a, "b": b, "e": e,
           "E": math.exp(e), "A": math.exp(a), "B": math.exp(b)}
    if "success" in obj:
        out["success"] = bool(_first(obj["success"]))
    if "loss" in obj:
        out["objective"] = float(_first(obj["loss"]))
    return out


HEAD_SIZE = 128
SEQ_LEN = 2048
VOCAB = 50304
MLP_EXPANSION = 4.0


def flops_per_token(width: Any, depth: Any, *, vocab: int = VOCAB, seq_len: int = SEQ_LEN,
                    queries_per_group: int = 2) -> Any:
    """Training FLOPs per token (forward + backward) of a Gemstone, counted as the
    paper counts them (App. M): attention projections with grouped keys/values and
    RoPE, causal score and value products at half cost, softmax, output projection,
    a GEGLU MLP of 4x width, RMSNorms, residual additions and the LM head; embedding
    lookups are free. Works on scalars and arrays."""
    h, L, T = HEAD_SIZE, depth, seq_len
    q_heads = width / h
    kv_heads = 2 * q_heads / queries_per_group            # keys and values together
    proj = 2.0 * T * (q_heads + kv_heads) * width * h
    rope = 3.5 * T * (q_heads + kv_heads / 2) * h
    scores = 1.0 * T * T * h * q_heads                      # causal: half of 2·T²·h
    softmax = 3.0 * T * T * q_heads
    values = 2.0 * T * T * h * q_heads
    out_proj = 2.0 * T * width * h * q_heads
    ffw = MLP_EXPANSION * width
    mlp = 6.0 * T * width * ffw + 10.0 * T * ffw + 2.0 * width * T
    norms = 14.0 * width * T
    head = 7.0 * width * T + 2.0 * T * width * vocab       # final RMSNorm and logits
    attn_fwd = proj + rope + scores + softmax + values + out_proj
    attn_bwd = 2.0 * (proj + rope) + 2.5 * (scores + softmax + values) + 2.0 * out_proj
    forward = L * (attn_fwd + mlp + norms) + head
    backward = L * attn_bwd + 2.0 * (L * (mlp + norms) + head)
    return (forward + backward) / T


def lower_hull(frame: pd.DataFrame, x: str = "C", y: str = "loss") -> pd.DataFrame:
    """The rows of ``frame`` on the lower convex hull of (log x, log y), from the
    smallest x to the lowest y (the falling part), sorted by x: the compute-optimal
    frontier of a set of checkpoints, as the paper's approach 1 takes it."""
    if len(frame) < 2:
        raise ValueError(f"a hull needs at least 2 rows, got {len(frame)}")
    lx = np.log(frame[x].to_numpy(float))
    ly = np.log(frame[y].to_numpy(float))
    order = np.lexsort((ly, lx))
    hull: list[int] = []
    for i in order:
        if hull and lx[hull[-1]] == lx[i]:
            continue                                        # same x: the lower y came first
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (lx[a] - lx[o]) * (ly[i] - ly[o]) - (ly[a] - ly[o]) * (lx[i] - lx[o])
            if cross <= 0:                                  # a is not strictly below the chord
                hull.pop()
            else:
                break
        hull.append(int(i))
    lowest = int(np.argmin([ly[i] for i in hull]))
    keep = hull[: lowest + 1]
    return frame.iloc[keep].reset_index(drop=True)


def _slopes(hull: pd.DataFrame, x: str) -> tuple[float, float, float, float]:
    lx = np.log(hull[x].to_numpy(float))
    out = []
    for col in ("N", "D"):
        slope, intercept = np.polyfit(lx, np.log(hull[col].to_numpy(float)), 1)
        out += [float(slope), float(intercept)]
    return tuple(out)  # type: ignore[return-value]


def approach1_hull(frame: pd.DataFrame, x: str = "C_count", *, bootstrap: int = 0, seed: int = 0,
                   level: float = 0.95) -> dict[str, Any]:
    """The paper's approach 1: OLS of ln N and ln D on ln ``x`` over the checkpoints of
    :func:`lower_hull`. Returns ``a``, ``a_intercept``, ``b``, ``b_intercept``,
    ``hull`` (the rows used) and, with ``bootstrap`` > 0, percentile intervals
    ``a_interval``, ``b_interval`` at ``level`` and the resampled ``a_samples``,
    ``b_samples``: each resample draws the training runs (models) with replacement and
    recomputes the hull, so the interval says how much the frontier depends on which
    models were trained. Resamples whose hull has fewer than 2 distinct compute values
    are dropped (counted in ``dropped``)."""
    hull = lower_hull(frame, x)
    a, ai, b, bi = _slopes(hull, x)
    out: dict[str, Any] = {"a": a, "a_intercept": ai, "b": b, "b_intercept": bi, "hull": hull,
                           "n_hull": len(hull), "n_runs": int(frame["run"].nunique())}
    if bootstrap:
        rng = np.random.default_rng(seed)
        runs = np.array(sorted(frame["run"].unique()))
        groups = {r: g for r, g in frame.groupby("run", sort=True)}
        samples, dropped = [], 0
        for _ in range(int(bootstrap)):
            pick = np.unique(rng.choice(runs, size=len(runs), replace=True))
            sub = pd.concat([groups[r] for r in pick], ignore_index=True)
            h = lower_hull(sub, x)
            if h[x].nunique() < 2:
                dropped += 1
                continue
            sa, _, sb, _ = _slopes(h, x)
            samples.append((sa, sb))
        arr = np.array(samples)
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        out.update({"a_samples": arr[:, 0], "b_samples": arr[:, 1], "dropped": dropped,
                    "a_interval": tuple(float(v) for v in np.percentile(arr[:, 0], q)),
                    "b_interval": tuple(float(v) for v in np.percentile(arr[:, 1], q))})
    return out
