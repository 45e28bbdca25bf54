"""Overhead per run of each sweep executor, against the local process pool.

    python benchmarks/bench_executors.py [--runs 24] [--work-ms 20] [--workers 2]
                                         [--backends inprocess,local,dask,ray,slurm,slurm4]

Every backend runs the same sweep: ``--runs`` runs that each compute for ``--work-ms``
milliseconds and return a small record with a learning curve, through a fresh run cache.
For each backend it reports the start-up time (starting the cluster or pool), the wall
time of a first sweep (workers still warming up) and of a second sweep (warm), and the
overhead per run of the warm sweep against the local pool measured in the same process:
(wall - wall of local pool) / runs. The in-process executor (workers=1) is shown for
reference. Slurm runs through submitit's local mode (one process per job), which costs
what a job start costs, not what a Slurm queue does; ``slurm4`` packs four runs per
array element (``runs_per_job=4``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Worker processes of every backend import this module to find run_work.
os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("SCALINGLAB_PROGRESS", "0")


def run_work(config: dict) -> dict:
    """Busy for config['work_ms'] milliseconds of CPU, then a record like a tiny run's."""
    end = time.process_time() + config["work_ms"] / 1000
    x = 0.0
    while time.process_time() < end:
        x += sum(i * 1e-9 for i in range(1000))
    steps = list(range(0, 100, 10))
    return {"metrics": {"loss": 1.0 / (1 + config["i"])},
            "curve": {"step": steps, "loss": [1.0 / (1 + s + config["i"]) for s in steps]}}


def build(name: str, workers: int, folder: Path):
    from scalinglab.sweep import make_executor
    if name == "inprocess":
        return make_executor("local", 1)
    if name == "local":
        return make_executor("local", workers, in_process=False)
    if name.startswith("slurm"):  # slurm, or slurm4: four runs per array element
        per_job = int(name[5:] or 1)
        return make_executor("slurm", workers, cluster="local", folder=folder / name,
                             poll_interval=0.1, runs_per_job=per_job)
    return make_executor(name, workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--work-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default="inprocess,local,dask,ray,slurm,slurm4")
    args = parser.parse_args()

    import bench_executors  # this file as an importable module, so workers can load run_work
    from scalinglab.sweep import grid, run_sweep

    configs = grid(i=list(range(args.runs)), work_ms=args.work_ms)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            t0 = time.perf_counter()
            try:
                ex = build(name, args.workers, folder)
            except Exception as exc:  # noqa: BLE001 - a backend that cannot start is reported
                print(f"{name}: cannot start ({type(exc).__name__}: {exc})", file=sys.stderr)
                continue
            startup = time.perf_counter() - t0
            walls = []
            try:
                for attempt in range(2):
                    t0 = time.perf_counter()
                    run_sweep(bench_executors.run_work, configs, namespace=f"{name}{attempt}",
                              cache_dir=folder / "cache", executor=ex, progress=False,
                              versions={"bench": "1"})
                    walls.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                run_sweep(bench_executors.run_work, configs, namespace=f"{name}1",
                          cache_dir=folder / "cache", executor=ex, progress=False,
                          versions={"bench": "1"})
                cached = time.perf_counter() - t0
            finally:
                ex.shutdown()
            rows.append((name, startup, walls[0], walls[1], cached))

    reference = {name: warm for name, _, _, warm, _ in rows}.get("local")
    print(f"sweep: {args.runs} runs x {args.work_ms:g} ms of work, {args.workers} workers; "
          f"CPU count {os.cpu_count()}")
    print(f"{'backend':<10} {'start s':>8} {'first s':>8} {'warm s':>8} {'ms/run':>8} "
          f"{'overhead ms/run vs local':>25} {'cache hit ms/run':>17}")
    for name, startup, first, warm, cached in rows:
        per_run = 1000 * warm / args.runs
        overhead = "" if reference is None else f"{1000 * (warm - reference) / args.runs:+.1f}"
        print(f"{name:<10} {startup:8.2f} {first:8.2f} {warm:8.2f} {per_run:8.1f} {overhead:>25} "
              f"{1000 * cached / args.runs:17.2f}")


if __name__ == "__main__":
    main()
