"""Sweep packing: K runs of one shape trained together vs the same runs one after another.

    python benchmarks/bench_packing.py [--quick] [--threads N] [--json out.json]

For three model sizes (~1e4, ~3e4 and ~1e5 non-embedding parameters; Kaplan-style
shapes, byte vocabulary, context 64, batch 16: the Kaplan cpu sweep's settings) it times

* sequential: ``train_run(config)`` for one run (the same for every K: runs alone do not
  share anything), and
* packed: ``train_packed(configs)`` for K = 1, 4, 8, 16 runs with different seeds and
  learning rates (:mod:`scalinglab.train.packed`),

whole runs (initialisation, training steps, two evaluations), in the same process, and
reports the throughput of each in runs x training tokens per second and the ratio
packed / sequential. The machine may be shared, so the measurements are interleaved
(sequential, then each K, in turns) and the best of the rounds is kept for each. The
number of steps is set per size so that one run alone takes about ``--seconds``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

import torch

os.environ.setdefault("SCALINGLAB_PROGRESS", "0")

from scalinglab.models.counting import gpt_param_counts  # noqa: E402
from scalinglab.train.packed import train_packed  # noqa: E402
from scalinglab.train.trainer import train_run  # noqa: E402

# (name, n_layer, d_model): n_head = d_model // 16
SIZES = [("1e4", 1, 32), ("3e4", 2, 32), ("1e5", 2, 64)]
PACKS = (1, 4, 8, 16)
CONTEXT, BATCH = 64, 16


def config(n_layer: int, d_model: int, steps: int, seed: int, threads: int) -> dict:
    return {"n_layer": n_layer, "d_model": d_model, "n_head": max(1, d_model // 16), "context": CONTEXT,
            "batch_size": BATCH, "steps": steps, "data": "pysrc", "lr": 3e-3 * (1 + 0.1 * seed),
            "seed": seed, "device": "cpu", "threads": threads, "eval_points": 1, "eval_windows": 16}


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def bench_size(name, n_layer, d_model, *, threads, rounds, seconds, packs):
    # Calibrate: steps such that one run alone takes about `seconds`.
    train_run(config(n_layer, d_model, 2, 0, threads))  # warm up (data, allocations)
    probe = 10
    per_step = timed(train_run, config(n_layer, d_model, probe, 0, threads)) / probe
    steps = max(10, int(seconds / per_step))
    train_packed([config(n_layer, d_model, 2, s, threads) for s in range(2)])  # warm up
    best = {"seq": float("inf"), **{k: float("inf") for k in packs}}
    for _ in range(rounds):
        best["seq"] = min(best["seq"], timed(train_run, config(n_layer, d_model, steps, 0, threads)))
        for k in packs:
            configs = [config(n_layer, d_model, steps, s, threads) for s in range(k)]
            best[k] = min(best[k], timed(train_packed, configs))
    tokens = steps * BATCH * CONTEXT
    seq_tps = tokens / best["seq"]
    counts = gpt_param_counts(dict(n_layer=n_layer, d_model=d_model, n_head=max(1, d_model // 16),
                                   context=CONTEXT, vocab_size=256))
    row = {"model": name, "n_layer": n_layer, "d_model": d_model, "N": counts.non_embedding,
           "steps": steps, "tokens_per_run": tokens, "seq_run_s": best["seq"], "seq_tokens_per_s": seq_tps}
    for k in packs:
        tps = k * tokens / best[k]
        row[f"K{k}_tokens_per_s"] = tps
        row[f"K{k}_ratio"] = tps / seq_tps
    return row


def table(rows, packs) -> str:
    head = ["model", "N (non-emb)", "steps", "sequential run x tok/s"] + [f"K={k} ratio" for k in packs]
    lines = [[r["model"], f"{r['N']:,}", str(r["steps"]), f"{r['seq_tokens_per_s']:,.0f}"]
             + [f"{r[f'K{k}_ratio']:.2f}x" for k in packs] for r in rows]
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(v.rjust(w) for v, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(l) for l in lines])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, shorter runs, K = 1 and 8")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run (default 1)")
    parser.add_argument("--seconds", type=float, default=None, help="length of one run alone")
    parser.add_argument("--sizes", default=None, help="comma-separated size names (1e4,3e4,1e5)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    rounds, seconds, packs = (1, 0.4, (1, 8)) if args.quick else (2, 0.6, PACKS)
    seconds = args.seconds or seconds
    wanted = args.sizes.split(",") if args.sizes else [s[0] for s in SIZES]
    name = platform.processor() or platform.machine()
    print(f"device: cpu ({name}), threads per run: {args.threads}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"timing: best of {rounds} interleaved rounds; whole runs (init, steps, 2 evaluations); "
          f"batch {BATCH} x context {CONTEXT}; ratio = packed / sequential runs x tokens per second")
    started = time.perf_counter()
    rows = [bench_size(*spec, threads=args.threads, rounds=rounds, seconds=seconds, packs=packs)
            for spec in SIZES if spec[0] in wanted]
    print(table(rows, packs))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": "cpu", "threads": args.threads, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
