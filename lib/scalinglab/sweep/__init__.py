"""Sweeps: grids of configs, the run cache, and the executors runs execute on.

    from scalinglab.sweep import grid, run_sweep
    result = run_sweep(train_run, grid(n_embd=[32, 64], seed=[0, 1]),
                       namespace="kaplan2020_neural_lm/width", executor=executor, workers=workers)
    result.frame, result.curves
"""
from scalinglab.sweep.cache import (
    CorruptRecord, RunCache, canonical_json, record_identity, run_key, validate_record,
)
from scalinglab.sweep.executors import (
    EXECUTOR_NAMES, BackendNotInstalled, DaskExecutor, Executor, InProcessExecutor, LocalExecutor,
    RayExecutor, ResourceUnavailable, SchedulerUnreachable, SlurmExecutor, make_executor,
)
from scalinglab.sweep.grid import grid
from scalinglab.sweep.runner import RunFailure, SweepError, SweepResult, load_sweep, run_sweep

__all__ = [
    "grid", "run_sweep", "load_sweep", "SweepResult", "SweepError", "RunFailure", "RunCache", "CorruptRecord",
    "canonical_json", "record_identity", "run_key", "validate_record", "EXECUTOR_NAMES", "Executor",
    "InProcessExecutor", "LocalExecutor", "DaskExecutor", "RayExecutor", "SlurmExecutor",
    "make_executor", "BackendNotInstalled", "SchedulerUnreachable", "ResourceUnavailable",
]
