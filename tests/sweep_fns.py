"""Small run functions for the sweep tests, importable by worker processes.

``power_law_run`` follows a known law, loss = A * n^(-alpha) + E, with a deterministic
per-seed offset, so a fit to a sweep's output must recover A and alpha exactly."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

A, ALPHA, E = 3.0, 0.35, 0.0
SEED_NOISE = 1e-3


def power_law_run(config: dict) -> dict:
    n = config["n"]
    final = A * n ** (-ALPHA) * (1.0 + SEED_NOISE * config.get("seed", 0)) + E
    steps = list(range(0, 50, 10))
    curve = [final * (1.0 + 4.0 / (1.0 + s)) for s in steps]
    time.sleep(config.get("sleep", 0.0))
    return {"metrics": {"loss": final, "n": n}, "curve": {"step": steps, "loss": curve}}


def flat_metrics_run(config: dict) -> dict:
    """Returns metrics without a ``metrics`` key (the whole dict is the metrics)."""
    return {"loss": 1.0 / config["n"], "accuracy": 0.5}


def failing_run(config: dict) -> dict:
    if config["n"] in config.get("fail_on", []):
        raise RuntimeError(f"diverging optimiser at n={config['n']}")
    return power_law_run(config)


def diverging_run(config: dict) -> dict:
    loss = float("nan") if config["n"] > 100 else 1.0
    return {"metrics": {"loss": loss}, "curve": {"step": [0, 1], "loss": [2.0, loss]}}


def flaky_run(config: dict) -> dict:
    """Fails the first time it is called for a config (a marker file remembers)."""
    marker = Path(config["marker_dir"]) / f"tried-{config['n']}"
    if not marker.exists():
        marker.write_text("x")
        raise OSError("transient file-system hiccup")
    return power_law_run(config)


def dies_once_run(config: dict) -> dict:
    """Kills its own worker process the first time (as an out-of-memory kill would)."""
    marker = Path(config["marker_dir"]) / f"died-{config['n']}"
    if config["n"] == config.get("die_on") and not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return power_law_run(config)


def bad_output_run(config: dict) -> dict:
    return [1, 2, 3]  # not a dict


def environment_run(config: dict) -> dict:
    """Reports what the worker was given: GPUs visible and CPU threads."""
    return {"metrics": {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                        "omp_threads": os.environ.get("OMP_NUM_THREADS", "")}}


def log_law(values):
    """Slope and intercept of log(loss) against log(n) by least squares."""
    import numpy as np
    n = np.array([v[0] for v in values], dtype=float)
    loss = np.array([v[1] for v in values], dtype=float)
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return float(slope), float(math.exp(intercept))


def square(x: float) -> float:
    return x * x


# -- sweep packing: a run function with ``packed`` and ``pack_key`` ---------------------------

PACK_LOG = "SCALINGLAB_TEST_PACK_LOG"  # a file each packed call appends its pack size to


def packable_run(config: dict) -> dict:
    return power_law_run(config)


def _packed_power_law(configs: list[dict]) -> list[dict]:
    log = os.environ.get(PACK_LOG)
    if log:
        with open(log, "a") as f:
            f.write(f"{len(configs)}\n")
    if any(c.get("break_pack") for c in configs):
        raise RuntimeError("this pack cannot be trained together")
    return [power_law_run(c) for c in configs]


def _power_law_pack_key(config: dict) -> str | None:
    if config.get("alone"):
        return None
    return f"shape={config.get('shape', 0)}"


packable_run.packed = _packed_power_law
packable_run.pack_key = _power_law_pack_key
