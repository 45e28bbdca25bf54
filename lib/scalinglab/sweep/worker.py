"""What runs on a worker: call the run function, build the record, write it.

Every executor ships the same :class:`RunTask` objects to :func:`execute_batch`, so
the record of a run does not depend on where it ran. A run function that raises is
caught here and returned as a failure (type, message and traceback) rather than
raised, so the driver reports errors the same way for every backend, and no record is
written for it. :func:`execute_pack` runs a pack of tasks as one call of the function's
``packed`` variant (sweep packing) and builds and writes each run's record the same way.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scalinglab.sweep.cache import build_record, write_atomic, canonical_json

# Read by libraries that start their thread pools later in the process. OpenBLAS falls
# back to OMP_NUM_THREADS; its own OPENBLAS_* variables are the machine's to set, and the
# pools already running are limited through threadpoolctl instead.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_thread_limits = None  # kept alive: the limit holds while the object does


@dataclass
class RunTask:
    """One run, as sent to a worker."""
    key: str
    namespace: str
    fn: Callable[[dict], Any]
    fn_name: str
    config: dict
    versions: Any
    record_path: str | None = None  # where the worker writes the record (None: the driver does)
    threads: int | None = None  # CPU threads a worker process gives the run (None: leave as is)
    backend: str = "local"
    attempt: int = 1


@dataclass
class Outcome:
    """What a worker sends back for one run: the record, or the error."""
    key: str
    record: dict | None = None
    error: str | None = None  # "TypeName: message"
    traceback: str | None = None
    written: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.record is not None


def limit_threads(threads: int) -> None:
    """Give a run ``threads`` CPU threads in a worker process, so parallel runs do not
    oversubscribe the cores and every backend does its arithmetic alike."""
    global _thread_limits
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
        _thread_limits = threadpool_limits(threads)
    except Exception:  # noqa: BLE001 - threadpoolctl missing: the variables above still apply
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(threads)
        except Exception:  # noqa: BLE001 - an exotic torch build; threads stay as they are
            pass


def _meta(task: RunTask, started: float) -> dict:
    return {"backend": task.backend, "host": socket.gethostname(), "pid": os.getpid(),
            "attempt": task.attempt,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))}


def _store(task: RunTask, output: Any, meta: dict) -> Outcome:
    """The record of a run from its function's output, written when the task says where."""
    try:
        record = build_record(key=task.key, namespace=task.namespace, fn_name=task.fn_name,
                              versions=task.versions, config=task.config, output=output,
                              meta=meta)
    except Exception as exc:  # noqa: BLE001 - reported to the driver with its traceback
        return Outcome(task.key, error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(), meta=meta)
    written = False
    if task.record_path is not None:
        try:
            write_atomic(Path(task.record_path), canonical_json(record) + "\n")
            written = True
        except OSError:
            # No shared file system here: the driver writes the record instead.
            written = False
    return Outcome(task.key, record=record, written=written, meta=meta)


def _own_copy(config: dict) -> dict:
    # The function gets its own copy of the config: a function that edits its argument
    # must not change the record.
    return json.loads(canonical_json(config))


def execute(task: RunTask) -> Outcome:
    if task.threads is not None:
        limit_threads(task.threads)
    started = time.time()
    meta = _meta(task, started)
    try:
        output = task.fn(_own_copy(task.config))
    except Exception as exc:  # noqa: BLE001 - reported to the driver with its traceback
        return Outcome(task.key, error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(), meta=meta)
    meta["duration_s"] = round(time.time() - started, 3)
    return _store(task, output, meta)


def execute_batch(tasks: list[RunTask]) -> list[Outcome]:
    """Run several tasks one after another (a Slurm array element may hold several)."""
    return [execute(task) for task in tasks]


def execute_pack(tasks: list[RunTask]) -> list[Outcome]:
    """Run several tasks of one function together, as one call of ``fn.packed(configs)``
    (sweep packing: see :func:`scalinglab.sweep.run_sweep`), each run's record built and
    written as :func:`execute` would. When the packed call raises, every task is run
    alone instead, so a pack fails no run that would have succeeded by itself."""
    first = tasks[0]
    if first.threads is not None:
        limit_threads(first.threads)
    started = time.time()
    try:
        outputs = list(first.fn.packed([_own_copy(task.config) for task in tasks]))
        if len(outputs) != len(tasks):
            raise RuntimeError(f"{first.fn_name}.packed returned {len(outputs)} records for {len(tasks)} configs")
    except Exception as exc:  # noqa: BLE001 - fall back to the runs alone
        print(f"sweep packing: a pack of {len(tasks)} runs failed ({type(exc).__name__}: {exc}); "
              "running them one by one", file=sys.stderr)
        return execute_batch(tasks)
    duration = round(time.time() - started, 3)
    outcomes = []
    for task, output in zip(tasks, outputs):
        meta = _meta(task, started)
        meta["duration_s"] = duration
        meta["packed"] = len(tasks)  # meta is outside the checksum and every comparison
        outcomes.append(_store(task, output, meta))
    return outcomes
