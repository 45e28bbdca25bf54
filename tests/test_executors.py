"""Executors: the same sweep on local, Dask, Ray and Slurm (submitit) gives the same
records and fits; a sweep cut short on one backend resumes on another; missing packages
and unreachable schedulers are clear errors. Everything runs on loopback."""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import pytest

import sweep_fns
from scalinglab.sweep import (
    BackendNotInstalled, DaskExecutor, InProcessExecutor, LocalExecutor, RayExecutor,
    ResourceUnavailable, SchedulerUnreachable, SlurmExecutor, grid, make_executor, record_identity,
    run_sweep,
)
from scalinglab.sweep.executors import host_port, local_gpu_count, parse_minutes

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.timeout(180)  # a hung backend fails the test, never the suite
VERSIONS = {"test": "1"}
CONFIGS = grid(n=[1, 4, 16, 64, 256, 1024], seed=[0, 1])
HAVE = {name: importlib.util.find_spec(name) is not None
        for name in ("dask", "distributed", "ray", "submitit")}
needs_dask = pytest.mark.skipif(not (HAVE["dask"] and HAVE["distributed"]),
                                reason="dask/distributed not installed (pip install -e .[cluster])")
needs_ray = pytest.mark.skipif(not HAVE["ray"], reason="ray not installed (pip install -e .[cluster])")
needs_submitit = pytest.mark.skipif(not HAVE["submitit"],
                                    reason="submitit not installed (pip install -e .[cluster])")


@pytest.fixture(scope="module", autouse=True)
def workers_import_the_test_functions():
    # Worker processes of Ray and submitit start from the environment, not from this
    # interpreter's sys.path; they need to import sweep_fns like the pool does.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        for name in [k for k in os.environ if k.startswith("SCALINGLAB_SLURM_")] + [
                "SCALINGLAB_DASK_ADDRESS", "SCALINGLAB_RAY_ADDRESS"]:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def dask_executor():
    if not (HAVE["dask"] and HAVE["distributed"]):
        pytest.skip("dask/distributed not installed")
    ex = DaskExecutor(2)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def ray_executor():
    if not HAVE["ray"]:
        pytest.skip("ray not installed")
    # One declared GPU (none is needed to run) so fractional GPU requests can be checked.
    ex = RayExecutor(2, num_gpus=1, object_store_mb=80)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def slurm_executor(tmp_path_factory):
    if not HAVE["submitit"]:
        pytest.skip("submitit not installed")
    ex = SlurmExecutor(cluster="local", folder=tmp_path_factory.mktemp("slurm"), runs_per_job=3,
                       poll_interval=0.2)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def local_pool():
    ex = LocalExecutor(2)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The sweep run in this process: the reference every backend must match."""
    return run_sweep(sweep_fns.power_law_run, CONFIGS, namespace="same", versions=VERSIONS,
                     cache_dir=tmp_path_factory.mktemp("baseline"), progress=False)


BACKENDS = [
    pytest.param("local_pool", id="local"),
    pytest.param("dask_executor", id="dask", marks=[pytest.mark.cluster, needs_dask]),
    pytest.param("ray_executor", id="ray", marks=[pytest.mark.cluster, needs_ray]),
    pytest.param("slurm_executor", id="slurm", marks=[pytest.mark.cluster, needs_submitit]),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_writes_identical_records_and_fits(request, backend, baseline, tmp_path):
    ex = request.getfixturevalue(backend)
    result = run_sweep(sweep_fns.power_law_run, CONFIGS, namespace="same", versions=VERSIONS,
                       cache_dir=tmp_path, executor=ex, progress=False)
    assert [record_identity(r) for r in result.records] == [record_identity(r) for r in baseline.records]
    assert {r["meta"]["backend"] for r in result.records} == {ex.name}
    # The files on disk, not only what came back, are the same.
    for record in baseline.records:
        on_disk = (tmp_path / "same" / f"{record['key']}.json").read_text()
        assert record_identity(__import__("json").loads(on_disk)) == record_identity(record)
    ours = sweep_fns.log_law(result.frame.query("seed == 0")[["n", "loss"]].values)
    reference = sweep_fns.log_law(baseline.frame.query("seed == 0")[["n", "loss"]].values)
    assert ours == reference  # bit for bit
    assert ours[0] == pytest.approx(-sweep_fns.ALPHA, rel=1e-9)
    assert result.frame.drop(columns="cached").equals(baseline.frame.drop(columns="cached"))
    assert sorted(os.listdir(tmp_path / "same")) == sorted(f"{k}.json" for k in result.run_ids)


@pytest.mark.cluster
@pytest.mark.timeout(120)
@needs_dask
@needs_ray
@needs_submitit
def test_a_sweep_cut_short_on_one_backend_resumes_on_another(
        dask_executor, ray_executor, slurm_executor, baseline, tmp_path):
    kw = dict(namespace="same", versions=VERSIONS, cache_dir=tmp_path, progress=False)
    run_sweep(sweep_fns.power_law_run, CONFIGS[:5], executor=dask_executor, **kw)
    on_ray = run_sweep(sweep_fns.power_law_run, CONFIGS[:9], executor=ray_executor, **kw)
    assert on_ray.cached == [True] * 5 + [False] * 4
    on_slurm = run_sweep(sweep_fns.power_law_run, CONFIGS, executor=slurm_executor, **kw)
    assert on_slurm.cached == [True] * 9 + [False] * 3
    assert [r["meta"]["backend"] for r in on_slurm.records] == ["dask"] * 5 + ["ray"] * 4 + ["slurm"] * 3
    assert [record_identity(r) for r in on_slurm.records] == [record_identity(r) for r in baseline.records]


@pytest.mark.parametrize("backend", BACKENDS)
def test_executors_have_the_concurrent_futures_shape(request, backend):
    ex = request.getfixturevalue(backend)
    assert list(ex.map(sweep_fns.square, [1, 2, 3])) == [1, 4, 9]
    assert ex.submit(sweep_fns.square, 5).result(timeout=60) == 25


def test_failures_are_reported_alike_on_every_backend(local_pool, tmp_path):
    from scalinglab.sweep import SweepError
    with pytest.raises(SweepError, match="diverging optimiser at n=2") as info:
        run_sweep(sweep_fns.failing_run, grid(n=[1, 2], fail_on=[[2]]), namespace="f",
                  versions=VERSIONS, cache_dir=tmp_path, executor=local_pool, progress=False, retries=0)
    assert "sweep_fns.py" in info.value.failures[0].traceback


# -- resources ---------------------------------------------------------------------------------

def test_local_pool_gives_each_run_its_cpu_threads(local_pool, tmp_path):
    result = run_sweep(sweep_fns.environment_run, grid(n=[1]), namespace="env", versions=VERSIONS,
                       cache_dir=tmp_path, executor=local_pool, progress=False,
                       resources={"cpus": 2})
    assert result.records[0]["metrics"]["omp_threads"] == "2"


@pytest.mark.cluster
@needs_ray
@pytest.mark.timeout(60)
def test_ray_packs_fractional_gpu_runs(ray_executor, tmp_path):
    assert ray_executor.ray_resources({"cpus": 1, "gpus": 0.25}) == {"num_cpus": 1, "num_gpus": 0.25}
    result = run_sweep(sweep_fns.environment_run, grid(n=[1, 2, 3, 4]), namespace="gpu",
                       versions=VERSIONS, cache_dir=tmp_path, executor=ray_executor, progress=False,
                       resources={"cpus": 0.5, "gpus": 0.25})
    # Ray gave every run the (declared) GPU 0.
    assert {r["metrics"]["cuda_visible_devices"] for r in result.records} == {"0"}
    with pytest.raises(ResourceUnavailable, match="asks for 2 GPU but the largest Ray node has 1"):
        ray_executor.ray_resources({"gpus": 2})
    with pytest.raises(ResourceUnavailable, match="asks for 3 CPU"):
        ray_executor.ray_resources({"cpus": 3})


@pytest.mark.cluster
@needs_dask
def test_dask_asks_for_worker_resources_and_refuses_a_gpu_nobody_has(dask_executor, tmp_path):
    assert dask_executor.dask_resources({"cpus": 1}) == {"CPU": 1}
    if local_gpu_count():
        pytest.skip("this machine has a GPU, which the LocalCluster declares")
    with pytest.raises(ResourceUnavailable, match="no Dask worker declares a GPU"):
        run_sweep(sweep_fns.power_law_run, grid(n=[1]), namespace="gpu", versions=VERSIONS,
                  cache_dir=tmp_path, executor=dask_executor, progress=False, resources={"gpus": 1})


@pytest.mark.cluster
@needs_submitit
def test_slurm_job_parameters_come_from_options_and_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALINGLAB_SLURM_PARTITION", "gpu")
    monkeypatch.setenv("SCALINGLAB_SLURM_TIME", "02:30:00")
    monkeypatch.setenv("SCALINGLAB_SLURM_ACCOUNT", "lab")
    monkeypatch.setenv("SCALINGLAB_SLURM_SETUP", "module load cuda;source .venv/bin/activate")
    ex = SlurmExecutor(8, cluster="local", folder=tmp_path)
    params = ex.job_parameters({"cpus": 2, "gpus": 0.25})
    assert params["slurm_partition"] == "gpu" and params["timeout_min"] == 150
    assert params["gpus_per_node"] == 1 and params["cpus_per_task"] == 2
    assert params["slurm_array_parallelism"] == 8 and params["slurm_account"] == "lab"
    assert params["slurm_setup"] == ["module load cuda", "source .venv/bin/activate"]
    assert ex.batch_size({"gpus": 0.25}) == 4 and ex.batch_size({"gpus": 1}) == 1
    explicit = SlurmExecutor(cluster="local", folder=tmp_path, partition="a100", time=20,
                             gpus_per_job=2)
    assert explicit.job_parameters({"gpus": 1})["slurm_partition"] == "a100"
    assert explicit.job_parameters({"gpus": 1})["gpus_per_node"] == 2
    assert "gpus_per_node" not in explicit.job_parameters({"gpus": 0}) or explicit.gpus_per_job
    assert parse_minutes("1-00:00:00") == 1440 and parse_minutes("45:30") == 46
    with pytest.raises(ValueError, match="HH:MM:SS"):
        parse_minutes("two hours")


@needs_submitit
def test_slurm_without_sbatch_says_how_to_proceed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(SchedulerUnreachable, match="sbatch"):
        make_executor("slurm", 1, folder=tmp_path)


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,module", [("dask", "distributed"), ("ray", "ray"),
                                             ("slurm", "submitit")])
def test_a_missing_package_names_the_extra_to_install(monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(BackendNotInstalled) as info:
        make_executor(backend, 2)
    assert f"executor={backend!r} needs the package {module!r}" in str(info.value)
    assert "pip install -e .[cluster]" in str(info.value)
    assert "requirements-cluster.txt" in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.cluster
@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend,address", [
    pytest.param("dask", "tcp://127.0.0.1:{port}", marks=needs_dask),
    pytest.param("ray", "127.0.0.1:{port}", marks=needs_ray),
    pytest.param("ray", "ray://127.0.0.1:{port}", marks=needs_ray),
])
def test_an_unreachable_scheduler_fails_fast_and_clearly(backend, address):
    address = address.format(port=_closed_port())
    with pytest.raises(SchedulerUnreachable, match=f"answers at {address}"):
        make_executor(backend, 2, address=address, connect_timeout=2)


@pytest.mark.cluster
@needs_dask
@pytest.mark.timeout(30)
def test_the_address_is_read_from_the_environment(monkeypatch, tmp_path):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("SCALINGLAB_DASK_ADDRESS", address)
    with pytest.raises(SchedulerUnreachable, match="from SCALINGLAB_DASK_ADDRESS"):
        run_sweep(sweep_fns.power_law_run, grid(n=[1]), namespace="x", versions=VERSIONS,
                  cache_dir=tmp_path, executor="dask", progress=False,
                  connect_timeout=2)


def test_host_port_parsing():
    assert host_port("tcp://10.0.0.5:8786") == ("10.0.0.5", 8786)
    assert host_port("ray://head:10001") == ("head", 10001)
    assert host_port("head", 6379) == ("head", 6379)
    assert host_port("[::1]:6379") == ("::1", 6379)
    with pytest.raises(ValueError, match="host and port"):
        host_port("tcp://nohost")


def test_make_executor_by_name():
    assert isinstance(make_executor("local", 1), InProcessExecutor)
    pool = make_executor("local", 3)
    assert isinstance(pool, LocalExecutor) and pool.workers == 3
    with pytest.raises(ValueError, match="workers"):
        make_executor("local", 0)


def test_options_that_do_not_apply_are_named(local_pool):
    with pytest.raises(ValueError, match="partition do not apply to executor='local'"):
        make_executor("local", 2, partition="gpu")
    with pytest.raises(ValueError, match="already made"):
        make_executor(local_pool, 2, threads_per_worker=2)
    assert isinstance(make_executor("local", 1, in_process=False), LocalExecutor)


@pytest.mark.cluster
@needs_submitit
@pytest.mark.timeout(120)
def test_a_lost_slurm_job_keeps_the_runs_it_finished(slurm_executor, tmp_path):
    # One array element holds n=1, 2, 3 (runs_per_job=3); its process dies at n=2.
    configs = grid(n=[1, 2, 3], marker_dir=str(tmp_path), die_on=2)
    result = run_sweep(sweep_fns.dies_once_run, configs, namespace="lost", versions=VERSIONS,
                       cache_dir=tmp_path / "cache", executor=slurm_executor, progress=False)
    attempts = [r["meta"]["attempt"] for r in result.records]
    assert attempts == [1, 2, 2]  # n=1 was written before the job died and is not rerun


@pytest.mark.cluster
@needs_dask
@pytest.mark.timeout(120)
def test_an_existing_dask_scheduler_by_address(tmp_path, baseline):
    """A scheduler and a worker started from the command line, as on a cluster: the
    records come back to the driver, which writes them, identical to the reference."""
    import subprocess
    port = _closed_port()
    address = f"tcp://127.0.0.1:{port}"
    common = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                               "--no-dashboard", "--resources", "GPU=1"], **common)
    try:
        import time
        deadline = time.monotonic() + 60
        while True:  # the scheduler takes a moment to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dask scheduler did not start"
                time.sleep(0.2)
        ex = make_executor("dask", 1, address=address, connect_timeout=10)
        try:
            ex.client.wait_for_workers(1, timeout=60)
            assert not ex.shared_filesystem
            assert ex.dask_resources({"cpus": 1, "gpus": 0.5}) == {"GPU": 0.5}
            result = run_sweep(sweep_fns.power_law_run, CONFIGS, namespace="same",
                               versions=VERSIONS, cache_dir=tmp_path / "cache", executor=ex,
                               progress=False, resources={"gpus": 0.5})
        finally:
            ex.shutdown()
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
        for proc in (worker, scheduler):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert [record_identity(r) for r in result.records] == [record_identity(r) for r in baseline.records]
    assert len(os.listdir(tmp_path / "cache" / "same")) == len(CONFIGS)
