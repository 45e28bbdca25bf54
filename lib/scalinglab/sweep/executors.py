"""Where sweep runs execute: a local process pool, Dask, Ray or Slurm (submitit).

Every executor has the shape of :class:`concurrent.futures.Executor` (``submit``,
``map``, ``shutdown``, context manager) and returns :class:`concurrent.futures.Future`
objects, so the sweep driver waits on all of them alike. ``submit`` also takes a
``resources`` hint, ``{"cpus": 1, "gpus": 0.25}``, that each backend turns into its own
request (a Ray ``num_gpus``, a Dask worker resource, a Slurm GPU count); a local pool
has no scheduler and only uses ``cpus`` as the thread count of a run.

    with make_executor("dask", workers=4) as ex:
        futures = [ex.submit(f, x, resources={"cpus": 1}) for x in xs]

Options left out are read from the environment, so ``make reproduce EXECUTOR=ray`` can
point every notebook at a cluster without editing it:

    SCALINGLAB_DASK_ADDRESS     scheduler address, e.g. tcp://10.0.0.5:8786
    SCALINGLAB_RAY_ADDRESS      cluster address, e.g. ray://head:10001, head:6379 or auto
    SCALINGLAB_RAY_RUNTIME_ENV  Ray runtime_env as JSON, e.g. {"py_modules": ["/abs/path/lib/scalinglab"]}
    SCALINGLAB_SLURM_PARTITION  SCALINGLAB_SLURM_TIME  SCALINGLAB_SLURM_GPUS_PER_JOB
    SCALINGLAB_SLURM_CPUS_PER_JOB  SCALINGLAB_SLURM_MEM_GB  SCALINGLAB_SLURM_ACCOUNT
    SCALINGLAB_SLURM_QOS  SCALINGLAB_SLURM_ARRAY_PARALLELISM  SCALINGLAB_SLURM_RUNS_PER_JOB
    SCALINGLAB_SLURM_FOLDER  SCALINGLAB_SLURM_SETUP  SCALINGLAB_SLURM_CLUSTER
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import math
import multiprocessing
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlparse

from scalinglab.base import paths

EXECUTOR_NAMES = ("local", "dask", "ray", "slurm")
CLUSTER_INSTALL = "pip install -e .[cluster]  (or: pip install -r requirements-cluster.txt)"
DEFAULT_RESOURCES = {"cpus": 1, "gpus": 0}


class BackendNotInstalled(ImportError):
    """The packages an executor needs are not installed."""


class SchedulerUnreachable(ConnectionError):
    """A Dask scheduler or Ray cluster address does not answer."""


class ResourceUnavailable(ValueError):
    """A run asks for a resource (a GPU) that no worker of the cluster offers."""


# -- helpers ----------------------------------------------------------------------------

def normalize_resources(resources: Mapping | None) -> dict[str, float]:
    """``{"cpus": c, "gpus": g}`` with defaults; unknown names are an error."""
    merged = dict(DEFAULT_RESOURCES)
    for name, value in (resources or {}).items():
        if name not in DEFAULT_RESOURCES:
            raise ValueError(f"unknown resource {name!r}; a run may ask for 'cpus' and 'gpus'")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise ValueError(f"resources[{name!r}]={value!r} must be a number >= 0")
        merged[name] = value
    if merged["cpus"] <= 0:
        raise ValueError("resources['cpus'] must be > 0")
    if merged["gpus"] > 1 and merged["gpus"] != int(merged["gpus"]):
        raise ValueError(f"resources['gpus']={merged['gpus']} must be a fraction below 1 or a whole number")
    return merged


def run_threads(resources: Mapping) -> int:
    """CPU threads a run gets in a worker process."""
    return max(1, int(math.ceil(normalize_resources(resources)["cpus"])))


def _require(backend: str, *modules: str):
    import importlib
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as exc:
            raise BackendNotInstalled(
                f"executor={backend!r} needs the package {name.split('.')[0]!r} ({exc}); "
                f"install the cluster extra: {CLUSTER_INSTALL}") from None
    return loaded[0] if len(loaded) == 1 else loaded


def host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """Host and port of ``tcp://h:p``, ``ray://h:p``, ``h:p`` (``[v6]:p`` too)."""
    text = address.strip()
    parsed = urlparse(text if "://" in text else f"tcp://{text}")
    host, port = parsed.hostname, parsed.port if parsed.port is not None else default_port
    if not host or port is None:
        raise ValueError(f"cannot read host and port from the address {address!r}")
    return host, port


def check_reachable(address: str, *, what: str, timeout: float, default_port: int | None = None,
                    env_var: str | None = None) -> None:
    """Fail in ``timeout`` seconds, with a message that says what to do, when nothing
    listens at ``address``; client libraries would otherwise retry for a minute."""
    host, port = host_port(address, default_port)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        source = f" (from {env_var})" if env_var and os.environ.get(env_var) == address else ""
        raise SchedulerUnreachable(
            f"no {what} answers at {address}{source}: {exc.strerror or exc}. Start it, fix the "
            f"address, or leave the address unset to start a local one") from None


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_number(name: str, kind=int):
    value = _env(name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} must be a number") from None


def local_gpu_count() -> int:
    """GPUs this process can see, without initialising CUDA when torch is absent."""
    try:
        import torch
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no torch or a broken driver: no GPU
        return 0


def _chain(source, target: cf.Future) -> None:
    """Copy the outcome of a finished future of another library onto ``target``."""
    if target.done():
        return
    try:
        result = source.result()
    except BaseException as exc:  # noqa: BLE001 - handed on to whoever waits on target
        if not target.done():
            target.set_exception(exc)
        return
    if not target.done():
        target.set_result(result)


# -- the interface ------------------------------------------------------------------------

class Executor:
    """Base class: ``submit`` returns a :class:`concurrent.futures.Future`."""

    name = "base"
    #: ``submit`` runs the call before it returns (no parallelism).
    synchronous = False
    #: workers see the driver's files, so they may write run records themselves.
    shared_filesystem = True

    def submit(self, fn: Callable, /, *args, resources: Mapping | None = None, **kwargs) -> cf.Future:
        raise NotImplementedError

    def submit_many(self, fn: Callable, calls: list[tuple], *, resources: Mapping | None = None) -> list[cf.Future]:
        """Submit ``fn(*call)`` for each call; a batch scheduler submits them as one job array."""
        return [self.submit(fn, *call, resources=resources) for call in calls]

    def map(self, fn: Callable, *iterables: Iterable, timeout: float | None = None,
            chunksize: int = 1, resources: Mapping | None = None) -> Iterator:
        futures = self.submit_many(fn, list(zip(*iterables)), resources=resources)
        deadline = None if timeout is None else time.monotonic() + timeout

        def results():
            try:
                for fut in futures:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    yield fut.result(left)
            finally:
                for fut in futures:
                    fut.cancel()
        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass

    def describe(self) -> str:
        return self.name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.shutdown(wait=True, cancel_futures=exc_type is not None)
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class InProcessExecutor(Executor):
    """Runs each call in this process when it is submitted: deterministic, no pickling,
    no start-up cost, and a debugger or an interrupt reaches the run function."""

    name = "local"
    synchronous = True

    def __init__(self, workers: int = 1):
        self.workers = 1

    def submit(self, fn, /, *args, resources=None, **kwargs):
        normalize_resources(resources)
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - delivered through the future
            fut.set_exception(exc)
        return fut

    def describe(self) -> str:
        return "local · in-process"


def _init_pool_worker(threads: int) -> None:
    from scalinglab.sweep.worker import limit_threads
    limit_threads(threads)


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``spawn`` start method: safe with
    threads and CUDA; ``mp_context="fork"`` starts faster on Linux).

    Each worker process runs one run at a time with ``threads_per_worker`` CPU threads
    (default 1, so ``workers`` runs fill ``workers`` cores). The pool is restarted when
    a worker process dies; the runs it held fail and are retried by the sweep."""

    name = "local"

    def __init__(self, workers: int = 1, *, mp_context: str = "spawn", threads_per_worker: int = 1):
        if workers < 1:
            raise ValueError(f"workers={workers} must be >= 1")
        self.workers = int(workers)
        self.mp_context = mp_context
        self.threads_per_worker = int(threads_per_worker)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers,
                                      mp_context=multiprocessing.get_context(self.mp_context),
                                      initializer=_init_pool_worker,
                                      initargs=(self.threads_per_worker,))

    def submit(self, fn, /, *args, resources=None, **kwargs):
        normalize_resources(resources)
        if self.mp_context != "fork" and getattr(fn, "__module__", None) == "__main__":
            raise ValueError(
                f"{fn.__qualname__} is defined in the notebook or script itself, which worker "
                "processes cannot import; move it into a module (a .py file) or use workers=1")
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except cf.BrokenExecutor:
                # A worker died (killed, out of memory): start a fresh pool for what follows.
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
                self._pool = None

    def describe(self) -> str:
        return f"local · {self.workers} processes"


# -- Dask ---------------------------------------------------------------------------------

class DaskExecutor(Executor):
    """Runs on a Dask cluster: the scheduler at ``address`` (or ``SCALINGLAB_DASK_ADDRESS``),
    else a LocalCluster of ``workers`` single-threaded processes on 127.0.0.1 with no
    dashboard. A run's ``gpus`` becomes the worker resource ``GPU`` (start workers with
    ``dask worker ADDRESS --resources GPU=1``), its ``cpus`` the resource ``CPU`` when the
    workers declare one."""

    name = "dask"

    def __init__(self, workers: int = 1, *, address: str | None = None, connect_timeout: float = 5.0,
                 shared_filesystem: bool | None = None, threads_per_worker: int = 1,
                 memory_limit: str | int | None = "auto"):
        distributed = _require("dask", "dask", "distributed")[1]
        self.address = address or _env("SCALINGLAB_DASK_ADDRESS")
        self._cluster = None
        self._futures: dict[int, Any] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        if self.address:
            check_reachable(self.address, what="Dask scheduler", timeout=connect_timeout,
                            default_port=8786, env_var="SCALINGLAB_DASK_ADDRESS")
            try:
                self.client = distributed.Client(self.address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise SchedulerUnreachable(f"cannot connect to the Dask scheduler at {self.address}: {exc}") from None
            self.shared_filesystem = bool(shared_filesystem)
        else:
            gpus = local_gpu_count()
            per_worker = {"CPU": threads_per_worker}
            if gpus:
                # The machine's GPUs are shared out between the worker processes.
                per_worker["GPU"] = gpus / workers
            self._cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address=None, resources=per_worker,
                memory_limit=memory_limit)
            self.client = distributed.Client(self._cluster, timeout=connect_timeout)
            self.shared_filesystem = True if shared_filesystem is None else bool(shared_filesystem)
        self.workers = workers

    def _worker_resources(self) -> list[dict]:
        info = self.client.scheduler_info(n_workers=-1) if _accepts_n_workers(self.client) else self.client.scheduler_info()
        return [w.get("resources", {}) or {} for w in info.get("workers", {}).values()]

    def dask_resources(self, resources: Mapping | None) -> dict[str, float]:
        """The hint in Dask's terms; a GPU request no worker can meet is an error here
        (Dask would otherwise keep the task waiting for ever)."""
        hint = normalize_resources(resources)
        declared = self._worker_resources()
        out: dict[str, float] = {}
        if hint["gpus"] and not declared:
            # No worker yet (an adaptive cluster starts them on demand): ask as is.
            return {"GPU": hint["gpus"]}
        if hint["gpus"]:
            most = max((w.get("GPU", 0) for w in declared), default=0)
            if most <= 0:
                raise ResourceUnavailable(
                    f"the run asks for {hint['gpus']} GPU but no Dask worker declares a GPU resource; "
                    "start workers with `dask worker ADDRESS --resources GPU=1` or ask for gpus=0")
            if hint["gpus"] > most:
                raise ResourceUnavailable(
                    f"the run asks for {hint['gpus']} GPU but the largest GPU resource of a Dask worker is {most}")
            out["GPU"] = hint["gpus"]
        if any("CPU" in w for w in declared):
            most = max(w.get("CPU", 0) for w in declared)
            out["CPU"] = min(hint["cpus"], most)
        return out

    def submit(self, fn, /, *args, resources=None, **kwargs):
        request = self.dask_resources(resources)
        target: cf.Future = cf.Future()
        target.set_running_or_notify_cancel()
        dfut = self.client.submit(fn, *args, resources=request or None, pure=False, **kwargs)
        ident = next(self._ids)
        with self._lock:
            self._futures[ident] = dfut  # a released Dask future cancels its task

        def done(source, ident=ident):
            _chain(source, target)
            with self._lock:
                self._futures.pop(ident, None)
        dfut.add_done_callback(done)
        return target

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            pending = list(self._futures.values())
            self._futures.clear()
        if cancel_futures and pending:
            try:
                self.client.cancel(pending)
            except Exception:  # noqa: BLE001 - the client may already be closing
                pass
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> str:
        return f"dask · {self.address}" if self.address else f"dask · LocalCluster × {self.workers}"


def _accepts_n_workers(client) -> bool:
    import inspect
    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


# -- Ray ------------------------------------------------------------------------------------

class RayExecutor(Executor):
    """Runs on a Ray cluster: ``address`` (or ``SCALINGLAB_RAY_ADDRESS``: ``ray://head:10001``
    for Ray Client, ``head:6379`` from a cluster node, or ``auto``), else a local
    instance with ``workers`` CPUs, a small object store and no dashboard. A run's
    ``cpus``/``gpus`` become the task's ``num_cpus``/``num_gpus``; a fraction of a GPU packs
    several small runs onto one GPU."""

    name = "ray"

    def __init__(self, workers: int = 1, *, address: str | None = None, connect_timeout: float = 5.0,
                 object_store_mb: int = 128, shared_filesystem: bool | None = None,
                 runtime_env: Mapping | None = None, num_gpus: int | None = None):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = _require("ray", "ray")
        self.ray = ray
        self.address = address or _env("SCALINGLAB_RAY_ADDRESS")
        if runtime_env is None and _env("SCALINGLAB_RAY_RUNTIME_ENV"):
            import json
            try:
                runtime_env = json.loads(_env("SCALINGLAB_RAY_RUNTIME_ENV"))
            except ValueError as exc:
                raise ValueError(f"SCALINGLAB_RAY_RUNTIME_ENV is not JSON: {exc}") from None
        self.workers = workers
        self._owns_ray = False
        if self.address and self.address != "auto":
            default_port = 10001 if self.address.startswith("ray://") else 6379
            check_reachable(self.address, what="Ray cluster", timeout=connect_timeout,
                            default_port=default_port, env_var="SCALINGLAB_RAY_ADDRESS")
        if ray.is_initialized():
            # A notebook that started or joined Ray itself keeps its instance; we use it.
            pass
        elif self.address:
            try:
                ray.init(address=self.address, runtime_env=dict(runtime_env or {}) or None,
                         logging_level="ERROR", log_to_driver=True)
            except (ConnectionError, RuntimeError) as exc:
                raise SchedulerUnreachable(f"cannot connect to the Ray cluster at {self.address}: {exc}") from None
            self._owns_ray = True
        else:
            ray.init(num_cpus=workers, num_gpus=local_gpu_count() if num_gpus is None else num_gpus,
                     object_store_memory=int(object_store_mb) * 1024 * 1024,
                     include_dashboard=False, logging_level="ERROR", log_to_driver=True,
                     runtime_env=dict(runtime_env or {}) or None,
                     _node_ip_address="127.0.0.1")
            self._owns_ray = True
        # On a cluster the driver writes the records (workers may not see its disk).
        self.shared_filesystem = (self.address is None) if shared_filesystem is None else bool(shared_filesystem)
        self._remote_fns: dict[Callable, Any] = {}
        self._refs: dict[int, Any] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def ray_resources(self, resources: Mapping | None) -> dict[str, float]:
        """The hint in Ray's terms; a request larger than every node is an error here
        (Ray would otherwise keep the task waiting for a node that never comes)."""
        hint = normalize_resources(resources)
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        for name, ray_name in (("cpus", "CPU"), ("gpus", "GPU")):
            most = max((n.get(ray_name, 0) for n in nodes), default=0)
            if hint[name] > most:
                raise ResourceUnavailable(
                    f"the run asks for {hint[name]} {ray_name} but the largest Ray node has {most:g}; "
                    f"ask for less (resources={{'{name}': ...}}) or use a bigger node")
        return {"num_cpus": hint["cpus"], "num_gpus": hint["gpus"]}

    def submit(self, fn, /, *args, resources=None, **kwargs):
        options = self.ray_resources(resources)
        with self._lock:
            remote = self._remote_fns.get(fn)
            if remote is None:
                remote = self._remote_fns[fn] = self.ray.remote(max_retries=0)(fn)
        ref = remote.options(**options).remote(*args, **kwargs)
        target: cf.Future = cf.Future()
        target.set_running_or_notify_cancel()
        ident = next(self._ids)
        with self._lock:
            self._refs[ident] = ref

        def done(source, ident=ident):
            _chain(source, target)
            with self._lock:
                self._refs.pop(ident, None)
        ref.future().add_done_callback(done)
        return target

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            pending = list(self._refs.values())
            self._refs.clear()
        if cancel_futures:
            for ref in pending:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
        if self._owns_ray:
            self.ray.shutdown()
            self._owns_ray = False

    def describe(self) -> str:
        return f"ray · {self.address}" if self.address else f"ray · local × {self.workers}"


# -- Slurm (submitit) -------------------------------------------------------------------------

def parse_minutes(value: Any) -> int:
    """Slurm time limits: minutes as a number, or ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(1, int(math.ceil(value)))
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError(f"time={value!r}: use minutes or HH:MM:SS (or D-HH:MM:SS)")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        minutes = int(days) * 1440 + int(a) * 60 + int(b or 0) + int(c or 0) / 60
    elif c is not None:  # HH:MM:SS
        minutes = int(a) * 60 + int(b) + int(c) / 60
    elif b is not None:  # MM:SS
        minutes = int(a) + int(b) / 60
    else:
        minutes = int(a)
    return max(1, int(math.ceil(minutes)))


class SlurmExecutor(Executor):
    """Submits runs to Slurm with submitit, as job arrays.

    One array element runs ``runs_per_job`` runs one after the other (default 1; a
    fractional GPU request ``g`` packs ``floor(1/g)`` runs into one single-GPU job). Each
    job gets ``gpus_per_job`` GPUs (default: the runs' GPU request rounded up),
    ``cpus_per_job`` CPUs, ``time`` (minutes or HH:MM:SS) and the ``partition``. Job files
    and logs go to ``folder`` (default ``<build>/slurm``), which must be on a file system
    the compute nodes share, as must the run cache. ``cluster="local"`` runs the jobs as
    local processes (what the tests use), ``"debug"`` in this process."""

    name = "slurm"

    def __init__(self, workers: int | None = None, *, partition: str | None = None,
                 time: Any = None, gpus_per_job: int | None = None, cpus_per_job: int | None = None,
                 mem_gb: float | None = None, account: str | None = None, qos: str | None = None,
                 runs_per_job: int | None = None, folder: str | os.PathLike | None = None,
                 setup: list[str] | str | None = None, cluster: str | None = None,
                 job_name: str = "scalinglab", poll_interval: float = 1.0,
                 additional_parameters: Mapping | None = None):
        submitit = _require("slurm", "submitit")
        self.submitit = submitit
        self.cluster = cluster or _env("SCALINGLAB_SLURM_CLUSTER")
        if self.cluster is None and not _slurm_available():
            raise SchedulerUnreachable(
                "executor='slurm' needs Slurm's sbatch on this machine (run the notebook or "
                "`make reproduce` on a login node), or SCALINGLAB_SLURM_CLUSTER=local to try it locally")
        self.partition = partition or _env("SCALINGLAB_SLURM_PARTITION")
        self.timeout_min = parse_minutes(time if time is not None else (_env("SCALINGLAB_SLURM_TIME") or 60))
        self.gpus_per_job = gpus_per_job if gpus_per_job is not None else _env_number("SCALINGLAB_SLURM_GPUS_PER_JOB")
        self.cpus_per_job = cpus_per_job if cpus_per_job is not None else _env_number("SCALINGLAB_SLURM_CPUS_PER_JOB")
        self.mem_gb = mem_gb if mem_gb is not None else _env_number("SCALINGLAB_SLURM_MEM_GB", float)
        self.account = account or _env("SCALINGLAB_SLURM_ACCOUNT")
        self.qos = qos or _env("SCALINGLAB_SLURM_QOS")
        self.runs_per_job = runs_per_job if runs_per_job is not None else _env_number("SCALINGLAB_SLURM_RUNS_PER_JOB")
        env_parallel = _env_number("SCALINGLAB_SLURM_ARRAY_PARALLELISM")
        self.workers = workers if workers is not None else env_parallel
        setup = setup if setup is not None else _env("SCALINGLAB_SLURM_SETUP")
        self.setup = [s for s in (setup.split(";") if isinstance(setup, str) else setup or []) if s.strip()]
        if folder is None:
            folder = _env("SCALINGLAB_SLURM_FOLDER")
        if folder is None:
            folder = paths.build_dir() / "slurm"
        self.folder = Path(folder)
        self.job_name = job_name
        self.poll_interval = poll_interval
        self.additional_parameters = dict(additional_parameters or {})
        self._pending: list[tuple[Any, cf.Future]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def job_parameters(self, resources: Mapping | None) -> dict[str, Any]:
        """submitit parameters of a job whose runs ask for ``resources``."""
        hint = normalize_resources(resources)
        gpus = self.gpus_per_job if self.gpus_per_job is not None else int(math.ceil(hint["gpus"]))
        params: dict[str, Any] = {
            "timeout_min": self.timeout_min, "name": self.job_name,
            "cpus_per_task": int(self.cpus_per_job or math.ceil(hint["cpus"])),
            "nodes": 1, "tasks_per_node": 1,
        }
        if gpus:
            params["gpus_per_node"] = int(gpus)
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.account:
            params["slurm_account"] = self.account
        if self.qos:
            params["slurm_qos"] = self.qos
        if self.workers:
            params["slurm_array_parallelism"] = int(self.workers)
        if self.setup:
            params["slurm_setup"] = list(self.setup)
        if self.additional_parameters:
            params["slurm_additional_parameters"] = dict(self.additional_parameters)
        return params

    def batch_size(self, resources: Mapping | None) -> int:
        """Runs per array element."""
        if self.runs_per_job:
            return int(self.runs_per_job)
        gpus = normalize_resources(resources)["gpus"]
        return max(1, int(1 / gpus)) if 0 < gpus < 1 else 1

    def _executor(self, resources):
        ex = self.submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        ex.update_parameters(**self.job_parameters(resources))
        return ex

    def submit(self, fn, /, *args, resources=None, **kwargs):
        job = self._executor(resources).submit(fn, *args, **kwargs)
        return self._track(job)

    def submit_many(self, fn, calls, *, resources=None):
        ex = self._executor(resources)
        with ex.batch():  # one job array
            jobs = [ex.submit(fn, *call) for call in calls]
        return [self._track(job) for job in jobs]

    def _track(self, job) -> cf.Future:
        target: cf.Future = cf.Future()
        target.set_running_or_notify_cancel()
        with self._lock:
            self._pending.append((job, target))
            if self._poller is None or not self._poller.is_alive():
                self._stop.clear()
                self._poller = threading.Thread(target=self._poll, name="scalinglab-slurm-poll", daemon=True)
                self._poller.start()
        return target

    def _poll(self) -> None:
        # submitit jobs are not futures: watch them and resolve ours as they finish.
        while not self._stop.is_set():
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for job, target in pending:
                try:
                    finished = job.done()
                except Exception:  # noqa: BLE001 - sacct hiccup: ask again next round
                    finished = False
                if finished:
                    _chain(job, target)
                    with self._lock:
                        self._pending.remove((job, target))
            self._stop.wait(self.poll_interval)

    def shutdown(self, wait=True, *, cancel_futures=False):
        if cancel_futures:
            with self._lock:
                pending = list(self._pending)
                self._pending.clear()
            for job, target in pending:
                try:
                    job.cancel(check=False)
                except Exception:  # noqa: BLE001 - already finished
                    pass
                target.cancel()
        if wait and self._poller is not None:
            self._poller.join()
        self._stop.set()

    def describe(self) -> str:
        where = self.cluster or "slurm"
        return f"slurm · {where}" + (f" · partition {self.partition}" if self.partition else "")


def _slurm_available() -> bool:
    import shutil
    return shutil.which("sbatch") is not None


# -- choosing one ---------------------------------------------------------------------------

def make_executor(executor: str | Executor = "local", workers: int = 1, **options: Any) -> Executor:
    """An executor by name (``local``, ``dask``, ``ray``, ``slurm``) with ``workers``
    parallel runs; other keyword options go to its class. An Executor is returned as is."""
    if isinstance(executor, Executor):
        if options:
            raise ValueError(f"options {sorted(options)} cannot apply to an executor that is "
                             "already made; pass them when making it")
        return executor
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1")
    classes = {"local": LocalExecutor, "dask": DaskExecutor, "ray": RayExecutor, "slurm": SlurmExecutor}
    if executor not in classes:
        raise ValueError(f"executor={executor!r} is not one of {', '.join(map(repr, EXECUTOR_NAMES))}")
    in_process = options.pop("in_process", None) if executor == "local" else None
    _check_options(executor, classes[executor], options)
    if executor == "local":
        # One worker runs in this process unless a process pool is asked for.
        if in_process or (in_process is None and workers == 1 and not options):
            if workers != 1:
                raise ValueError(f"in_process=True runs one run at a time; workers={workers} cannot apply")
            return InProcessExecutor()
        return LocalExecutor(workers, **options)
    if executor == "slurm":
        # Slurm's queue decides how many jobs run; workers > 1 caps the job array.
        return SlurmExecutor(workers if workers > 1 else None, **options)
    return classes[executor](workers, **options)


def _check_options(name: str, cls: type, options: Mapping) -> None:
    import inspect
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "workers")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"option(s) {', '.join(unknown)} do not apply to executor={name!r}; "
                         f"it takes: {', '.join(accepted)}")


__all__ = ["EXECUTOR_NAMES", "Executor", "InProcessExecutor", "LocalExecutor", "DaskExecutor",
           "RayExecutor", "SlurmExecutor", "make_executor", "normalize_resources",
           "BackendNotInstalled", "SchedulerUnreachable", "ResourceUnavailable", "parse_minutes"]
