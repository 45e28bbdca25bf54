"""Start-up cost of the command line: ``scalinglab fit`` on a 240-row Chinchilla CSV
against ``python -c "import numpy, scipy.optimize, pandas"`` (the floor any fit in
Python pays), each run as a fresh process, alternated, in the same run. A plain
script, not a test:

    python benchmarks/bench_cli.py             # 7 rounds
    python benchmarks/bench_cli.py --rounds 3

Target: the fit's wall time at most 2x the floor's (median over rounds). Also lists
the slowest of the fit's own imports (``python -X importtime``), so a regression
names the module that caused it. Exit status 1 when the target is missed.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_RATIO = 2.0
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Eq. 10


def write_runs(path: Path, n: int = 240, seed: int = 0) -> None:
    """n runs with sizes and tokens spread over three decades, 1% log-normal noise."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
    p = HOFFMANN
    loss = (p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]) * np.exp(rng.normal(0, 0.01, n))
    pd.DataFrame({"params": N, "tokens": D, "val_loss": loss}).to_csv(path, index=False)


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_imports(cmd: list[str], k: int = 6) -> list[tuple[str, float]]:
    """The k scalinglab modules with the largest cumulative import time (ms)."""
    out = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and "scalinglab" in parts[2]:
            rows.append((parts[2].strip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "runs.csv"
        write_runs(csv)
        fit = [sys.executable, "-m", "scalinglab.cli", "fit", str(csv), "--N", "params", "--D", "tokens",
               "--loss", "val_loss"]
        floor = [sys.executable, "-c", "import numpy, scipy.optimize, pandas"]
        wall(fit), wall(floor)  # warm the file cache
        fits, floors = [], []
        for _ in range(args.rounds):
            fits.append(wall(fit))
            floors.append(wall(floor))
        imports = slowest_imports(fit)
    t_fit, t_floor = statistics.median(fits), statistics.median(floors)
    ratio = t_fit / t_floor
    print(f"scalinglab fit, 240 runs (Chinchilla, Huber):  {t_fit:.2f} s  (median of {args.rounds})")
    print(f"import numpy, scipy.optimize, pandas:          {t_floor:.2f} s")
    print(f"ratio {ratio:.2f}  (target <= {TARGET_RATIO:g}): {'met' if ratio <= TARGET_RATIO else 'MISSED'}")
    print("slowest scalinglab imports (cumulative ms): "
          + ", ".join(f"{name} {ms:.0f}" for name, ms in imports))
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
