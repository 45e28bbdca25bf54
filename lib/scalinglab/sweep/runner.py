"""``run_sweep``: run a function over configs through the run cache on an executor.

    result = run_sweep(train_run, grid(n_embd=[32, 64, 128], seed=[0, 1]),
                       namespace="kaplan2020_neural_lm/width", executor="local", workers=2)
    result.frame    # one row per run: config, final metrics, run_id, diverged, cached
    result.curves   # learning curves, long form, with run_id

Runs whose record is in the cache are not run again. The others are submitted to the
executor; as each finishes its record is written atomically (by the worker when it sees
the cache folder, else here), so an interrupted sweep loses only the runs in flight and
the next call, on any executor, does only what is missing. A run whose function raises
is tried ``retries`` more times; runs that still fail are listed in a ``SweepError``
raised after every other run has finished and been cached.

Packing: when the run function offers ``fn.packed(configs) -> records`` and
``fn.pack_key(config) -> str | None`` (``train_run`` does: see
:mod:`scalinglab.train.packed`), pending runs with one pack key (e.g. a learning-rate or
seed grid of one model shape) are trained together, up to ``pack`` at a time, as one
task on the executor. Each run still gets its own record under its own key, equal to the
record of the run alone (``meta.packed`` notes the pack size); a pack that raises runs
its members one by one; a run retried after a lost worker runs alone. ``pack=1`` turns
packing off.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from scalinglab.base import paths
from scalinglab.base.progress import progress_bar
from scalinglab.sweep.cache import (
    CorruptRecord, RunCache, canonical_config, canonical_json, check_namespace, default_versions,
    function_name, run_key, to_jsonable, validate_record,
)
from scalinglab.sweep.executors import Executor, make_executor, normalize_resources, run_threads
from scalinglab.sweep.worker import Outcome, RunTask, execute_batch, execute_pack


@dataclass
class RunFailure:
    """A run that failed on every attempt."""
    key: str
    config: dict
    error: str
    attempts: int
    traceback: str | None = None

    def __str__(self) -> str:
        return f"{canonical_json(self.config)} -> {self.error} (after {self.attempts} attempt(s))"


class SweepError(RuntimeError):
    """Some runs of a sweep failed on every attempt. The runs that finished are cached;
    ``.result`` holds them and ``.failures`` the failed ones with their errors."""

    def __init__(self, namespace: str, failures: list[RunFailure], result: "SweepResult"):
        self.namespace = namespace
        self.failures = failures
        self.result = result
        lines = [f"{len(failures)} of {len(failures) + len(result.records)} runs of sweep "
                 f"{namespace!r} failed ({len(result.records)} finished and are cached; "
                 "rerun to retry the failed ones):"]
        lines += [f"  {f}" for f in failures[:20]]
        if len(failures) > 20:
            lines.append(f"  ... and {len(failures) - 20} more (see .failures)")
        last = failures[0].traceback
        if last:
            lines.append("first traceback:\n" + last.rstrip())
        super().__init__("\n".join(lines))


X_AXES = ("step", "epoch", "tokens", "samples", "flops", "compute", "time")


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value


@dataclass
class SweepResult:
    """The records of a sweep, in the order of its configs."""
    namespace: str
    records: list[dict]
    cached: list[bool] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return [r["key"] for r in self.records]

    @property
    def frame(self):
        """One row per run: ``run_id``, the config (nested keys joined with '.'), the final
        metrics (a metric named like a config field is prefixed 'metrics.'), ``diverged``
        and ``cached`` (read from the cache rather than run by this call)."""
        import pandas as pd
        rows = []
        for record, cached in zip(self.records, self.cached):
            config: dict = {}
            _flatten("", record["config"], config)
            metrics: dict = {}
            _flatten("", record["metrics"], metrics)
            row = {"run_id": record["key"], **config}
            for name, value in metrics.items():
                row[f"metrics.{name}" if name in row else name] = value
            row["diverged"] = bool(record.get("diverged", False))
            row["cached"] = cached
            rows.append(row)
        if not rows:
            return pd.DataFrame(columns=["run_id", "diverged", "cached"])
        return pd.DataFrame(rows)

    @property
    def curves(self):
        """Every run's learning curve, long form: ``run_id`` then the curve's columns.
        Join the configs with ``result.curves.merge(result.frame, on="run_id")``."""
        import pandas as pd
        parts = []
        for record in self.records:
            curve = record.get("curve")
            if not curve:
                continue
            # Record files sort their keys; put the usual x axes first again.
            names = sorted(curve, key=lambda c: (X_AXES.index(c) if c in X_AXES else len(X_AXES)))
            part = pd.DataFrame({name: curve[name] for name in names})
            part.insert(0, "run_id", record["key"])
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=["run_id"])
        return pd.concat(parts, ignore_index=True)

    @property
    def diverged(self) -> list[dict]:
        """Configs of runs whose final metrics hold NaN or infinity."""
        return [r["config"] for r in self.records if r.get("diverged")]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def summary(self) -> str:
        n_cached = sum(self.cached)
        return (f"{self.namespace}: {len(self.records)} runs ({n_cached} from the cache, "
                f"{len(self.records) - n_cached} run now), {len(self.diverged)} diverged, "
                f"{len(self.failures)} failed")

    def __repr__(self) -> str:
        # Stable between a first run and a cached rerun (stored notebook outputs).
        return (f"SweepResult({self.namespace!r}: {len(self.records)} runs, "
                f"{len(self.diverged)} diverged, {len(self.failures)} failed)")


def load_sweep(namespace: str, *, cache_dir: str | os.PathLike | None = None,
               fn: Callable | str | None = None) -> SweepResult:
    """Every complete record of a namespace, without running anything: for refitting
    runs made elsewhere (e.g. committed under ``data/runs/``) whatever code version made
    them. ``fn`` keeps only the runs of one function (a function or ``"module:name"``).
    Records come sorted by config; unusable files are reported and skipped."""
    namespace = check_namespace(namespace)
    if cache_dir is None:
        cache_dir = paths.cache_dir() / "runs"
    cache = RunCache(cache_dir, namespace)
    wanted = None if fn is None else (fn if isinstance(fn, str) else function_name(fn))
    found = []
    for key in cache.keys():
        try:
            record = cache.load(key)
        except CorruptRecord as exc:
            _report(f"run cache: skipping the unusable record {namespace}/{key}.json ({exc})", None)
            continue
        if record is not None and (wanted is None or record["fn"] == wanted):
            found.append(record)
    found.sort(key=lambda r: (canonical_json(r["config"]), r["fn"], canonical_json(r["versions"])))
    return SweepResult(namespace, found, [True] * len(found))


def _progress_enabled(progress: bool) -> bool:
    return bool(progress) and os.environ.get("SCALINGLAB_PROGRESS", "1") != "0"


def _report(message: str, bar) -> None:
    """A line for the person watching (stderr, so stored notebook outputs stay clean)."""
    if bar is not None and not bar.disable:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def run_sweep(fn: Callable[[dict], Mapping], configs: Iterable[Mapping], *, namespace: str,
              cache_dir: str | os.PathLike | None = None, executor: str | Executor = "local",
              workers: int = 1, progress: bool = True, retries: int = 1, versions: Any = None,
              resources: Mapping | Callable[[dict], Mapping] | None = None,
              desc: str | None = None, pack: int = 8, **executor_options: Any) -> SweepResult:
    """Run ``fn(config)`` for every config not already in the run cache.

    fn: a top-level (picklable) function returning a JSON-serialisable dict, e.g.
        ``{"metrics": {"loss": 3.2}, "curve": {"step": [...], "loss": [...]}}``.
    configs: dicts (e.g. from :func:`grid`); identical configs are run once.
    namespace: the cache sub-folder, e.g. ``"kaplan2020_neural_lm/width"``.
    cache_dir: the run cache root (default ``<build>/cache/runs``).
    executor: ``"local"`` (process pool; in this process when workers=1), ``"dask"``,
        ``"ray"``, ``"slurm"``, or an :class:`Executor` (left running afterwards).
    workers: parallel runs (local pool size, LocalCluster size, local Ray CPUs, Slurm
        array parallelism; 1 means unlimited on Slurm).
    retries: further attempts for a run whose function raises or whose worker dies.
    versions: the code/data versions the runs depend on, part of every key
        (default: the scalinglab library source hash).
    resources: what each run needs, ``{"cpus": 1, "gpus": 0.25}``, or a function of the
        config returning that.
    pack: at most this many runs trained together when ``fn`` supports packing (it has
        ``packed`` and ``pack_key`` attributes; see the module docstring); 1: never.
    executor_options: passed to the executor (e.g. ``address=``, ``partition=``).
    """
    namespace = check_namespace(namespace)
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r} must be an integer >= 0")
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ValueError(f"pack={pack!r} must be an integer >= 1")
    fn_name = function_name(fn)
    versions = to_jsonable(default_versions() if versions is None else versions, "versions")
    if cache_dir is None:
        cache_dir = paths.cache_dir() / "runs"
    cache = RunCache(cache_dir, namespace)
    if isinstance(configs, Mapping):
        raise TypeError("configs must be a list of dicts (use grid(...)), not a single dict")

    # Keys, in config order, each run once.
    order: list[str] = []
    plain: dict[str, dict] = {}
    for config in configs:
        config = canonical_config(config)
        key = run_key(config, fn_name, versions)
        if key not in plain:
            plain[key] = config
            order.append(key)
    if callable(resources):
        wants = {key: normalize_resources(resources(dict(plain[key]))) for key in order}
    else:
        hint = normalize_resources(resources)
        wants = {key: hint for key in order}

    # What the cache already holds.
    cache.remove_stale_temporaries()
    records: dict[str, dict] = {}
    cached: dict[str, bool] = {}
    todo: list[str] = []
    for key in order:
        try:
            record = cache.load(key)
        except CorruptRecord as exc:
            moved = cache.quarantine(key)
            where = f"; moved to {moved.relative_to(cache.root)}" if moved else ""
            _report(f"run cache: the record {namespace}/{key}.json is unusable ({exc}){where}; "
                    f"running it again", None)
            record = None
        if record is None:
            todo.append(key)
        else:
            records[key], cached[key] = record, True

    failures: list[RunFailure] = []
    if todo:
        failures = _execute(fn, todo, plain, wants, cache=cache, fn_name=fn_name,
                            versions=versions, executor=executor, workers=workers,
                            retries=retries, progress=progress, desc=desc or namespace,
                            n_cached=len(order) - len(todo), total=len(order),
                            records=records, cached=cached, executor_options=executor_options,
                            pack=pack)

    done = [key for key in order if key in records]
    result = SweepResult(namespace, [records[k] for k in done], [cached[k] for k in done], failures)
    if failures:
        raise SweepError(namespace, failures, result)
    return result


def _execute(fn, todo, plain, wants, *, cache: RunCache, fn_name, versions, executor, workers,
             retries, progress, desc, n_cached, total, records, cached, executor_options,
             pack: int = 1) -> list[RunFailure]:
    own = not isinstance(executor, Executor)
    ex = make_executor(executor, workers, **executor_options)
    in_process = isinstance(ex, Executor) and ex.synchronous
    bar = progress_bar(total=total, initial=n_cached, desc=desc, unit="run", file=sys.stderr,
                       enabled=_progress_enabled(progress), dynamic_ncols=True)
    attempts = {key: 0 for key in todo}
    failures: list[RunFailure] = []
    futures: dict[cf.Future, list[str]] = {}
    packing = pack > 1 and callable(getattr(fn, "packed", None)) and callable(getattr(fn, "pack_key", None))
    pack_keys: dict[str, str | None] = {}

    def packs(keys: list[str]) -> tuple[list[str], list[list[str]]]:
        """Split keys into runs to do alone and packs (2 to ``pack`` runs of one pack key).
        A run tried before goes alone."""
        if not packing:
            return keys, []
        by_key: dict[str, list[str]] = {}
        alone = []
        for key in keys:
            if key not in pack_keys:
                try:
                    pack_keys[key] = fn.pack_key(dict(plain[key]))
                except Exception:  # noqa: BLE001 - not packable; the run reports its own errors
                    pack_keys[key] = None
            if attempts[key] > 0 or pack_keys[key] is None:
                alone.append(key)
            else:
                by_key.setdefault(pack_keys[key], []).append(key)
        out = []
        for members in by_key.values():
            n_packs = -(-len(members) // pack)
            # Even packs: 9 runs at pack=8 make packs of 5 and 4, not 8 and 1.
            for i in range(n_packs):
                part = members[i * len(members) // n_packs:(i + 1) * len(members) // n_packs]
                if len(part) == 1:
                    alone.extend(part)
                else:
                    out.append(part)
        alone_set = set(alone)
        return [k for k in keys if k in alone_set], out

    def task(key: str) -> RunTask:
        attempts[key] += 1
        return RunTask(key=key, namespace=cache.namespace, fn=fn, fn_name=fn_name,
                       config=plain[key], versions=versions,
                       record_path=str(cache.path(key)) if ex.shared_filesystem else None,
                       threads=None if in_process else run_threads(wants[key]),
                       backend=ex.name, attempt=attempts[key])

    def finished(keys: list[str], outcomes: list[Outcome] | None, error: BaseException | None) -> list[str]:
        """Store what came back; return the keys to try again."""
        again = []
        for i, key in enumerate(keys):
            outcome = outcomes[i] if outcomes is not None and i < len(outcomes) else None
            if outcome is not None and outcome.ok:
                # The record as it reads back from JSON, whoever wrote it.
                record = json.loads(canonical_json(outcome.record))
                try:
                    validate_record(record, key)
                except CorruptRecord as exc:  # a run function that is not deterministic JSON
                    outcome = Outcome(key, error=f"record failed its own check: {exc}")
                else:
                    if not (outcome.written and cache.path(key).exists()):
                        cache.write(record)
                    records[key], cached[key] = record, False
                    bar.update(1)
                    continue
            if outcome is None and error is not None:
                # A lost job (a Slurm time limit, a dead worker) may have finished and
                # written some of its runs before it went.
                try:
                    record = cache.load(key)
                except CorruptRecord:
                    record = None
                if record is not None:
                    records[key], cached[key] = record, False
                    bar.update(1)
                    continue
            if outcome is not None:
                message, trace = outcome.error, outcome.traceback
            else:
                message = f"{type(error).__name__}: {error}" if error else "no outcome returned"
                message = f"worker lost ({message})"
                trace = None
            if attempts[key] <= retries:
                _report(f"run {canonical_json(plain[key])} failed on attempt {attempts[key]}: "
                        f"{message}; retrying", bar)
                again.append(key)
            else:
                failures.append(RunFailure(key, plain[key], message, attempts[key], trace))
                _report(f"run {canonical_json(plain[key])} failed: {message}", bar)
        bar.set_postfix_str(f"{len(failures)} failed" if failures else "", refresh=False)
        return again

    def submit(keys: list[str]) -> None:
        # Group by resource hint (a batch scheduler makes one job array per group).
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(canonical_json(wants[key]), []).append(key)
        for group in groups.values():
            hint = wants[group[0]]
            group, packed = packs(group)
            size = ex.batch_size(hint) if hasattr(ex, "batch_size") else 1
            batches = [group[i:i + size] for i in range(0, len(group), size)]
            work = [(execute_pack, p) for p in packed] + [(execute_batch, b) for b in batches]
            if in_process:
                for run_fn, batch in work:
                    fut = ex.submit(run_fn, [task(k) for k in batch], resources=hint)
                    futures[fut] = batch
                    drain(block=False)
            else:
                for run_fn in (execute_pack, execute_batch):
                    chosen = [batch for f, batch in work if f is run_fn]
                    if not chosen:
                        continue
                    calls = [([task(k) for k in batch],) for batch in chosen]
                    for fut, batch in zip(ex.submit_many(run_fn, calls, resources=hint), chosen):
                        futures[fut] = batch

    def drain(block: bool) -> None:
        if not futures:
            return
        done, _ = cf.wait(list(futures), timeout=None if block else 0,
                          return_when=cf.FIRST_COMPLETED)
        for fut in done:
            keys = futures.pop(fut)
            try:
                outcomes, error = fut.result(), None
            except BaseException as exc:  # noqa: BLE001 - a lost worker, reported per run
                if isinstance(exc, KeyboardInterrupt):
                    raise
                outcomes, error = None, exc
            again = finished(keys, outcomes, error)
            if again:
                queue.extend(again)

    queue: deque[str] = deque()
    interrupted = False
    try:
        submit(list(todo))
        while futures or queue:
            if queue:
                again = list(queue)
                queue.clear()
                submit(again)
            drain(block=True)
    except BaseException:
        interrupted = True
        raise
    finally:
        bar.close()
        if own:
            ex.shutdown(wait=not interrupted, cancel_futures=interrupted)
    return failures


__all__ = ["run_sweep", "load_sweep", "SweepResult", "SweepError", "RunFailure"]
