"""Grids, the run cache and run_sweep on the local executor."""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sweep_fns
from scalinglab.sweep import (
    CorruptRecord, RunCache, SweepError, grid, record_identity, run_key, run_sweep,
    validate_record,
)
from scalinglab.sweep.cache import build_record

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.timeout(180)  # a hung backend fails the test, never the suite
VERSIONS = {"test": "1"}


def sweep(fn, configs, tmp_path, **kw):
    kw.setdefault("namespace", "demo")
    kw.setdefault("progress", False)
    kw.setdefault("versions", VERSIONS)
    return run_sweep(fn, configs, cache_dir=tmp_path / "cache", **kw)


# -- grid --------------------------------------------------------------------------------

def test_grid_is_the_cartesian_product_first_axis_slowest():
    g = grid(n=[1, 2], seed=[0, 1, 2], steps=100)
    assert g == [{"n": n, "seed": s, "steps": 100} for n in (1, 2) for s in (0, 1, 2)]


def test_grid_turns_numpy_values_into_python_numbers_and_rejects_empty_axes():
    g = grid(n=np.array([10, 100]), lr=np.float64(0.5), tag="a")
    assert g == [{"n": 10, "lr": 0.5, "tag": "a"}, {"n": 100, "lr": 0.5, "tag": "a"}]
    assert type(g[0]["n"]) is int and type(g[0]["lr"]) is float
    assert grid() == [{}]
    with pytest.raises(ValueError, match="axis 'n' has no values"):
        grid(n=[])


# -- keys and records -------------------------------------------------------------------------

def test_run_key_is_the_hash_of_canonical_config_function_and_versions():
    config = {"b": 2, "a": [1, 2.5]}
    expected = hashlib.sha256(
        b'{"config":{"a":[1,2.5],"b":2},"fn":"m:f","versions":{"test":"1"}}').hexdigest()[:20]
    assert run_key(config, "m:f", VERSIONS) == expected
    assert run_key({"a": [1, 2.5], "b": 2}, "m:f", VERSIONS) == expected  # key order
    assert run_key(config, "m:g", VERSIONS) != expected
    assert run_key(config, "m:f", {"test": "2"}) != expected
    assert run_key({"b": 2, "a": [1, 2.6]}, "m:f", VERSIONS) != expected
    with pytest.raises(ValueError, match="NaN"):
        run_key({"lr": float("nan")}, "m:f", VERSIONS)


def test_record_checksum_catches_any_edit():
    record = build_record(key=run_key({"n": 1}, "m:f", VERSIONS), namespace="x", fn_name="m:f",
                          versions=VERSIONS, config={"n": 1}, output={"metrics": {"loss": 1.5}})
    validate_record(record, record["key"])
    record["meta"]["host"] = "elsewhere"  # meta is outside the checksum
    validate_record(record)
    edited = json.loads(json.dumps(record))
    edited["metrics"]["loss"] = 1.4
    with pytest.raises(CorruptRecord, match="checksum"):
        validate_record(edited)
    with pytest.raises(CorruptRecord, match="file name"):
        validate_record(record, "0" * 20)


# -- run_sweep ----------------------------------------------------------------------------------

def test_sweep_frame_records_and_curves(tmp_path):
    configs = grid(n=[1, 10, 100], seed=[0, 1])
    result = sweep(sweep_fns.power_law_run, configs, tmp_path)
    frame = result.frame
    assert list(frame.columns) == ["run_id", "n", "seed", "loss", "metrics.n", "diverged", "cached"]
    assert len(frame) == 6 and not frame["cached"].any() and not frame["diverged"].any()
    expected = [sweep_fns.A * c["n"] ** -sweep_fns.ALPHA * (1 + 1e-3 * c["seed"]) for c in configs]
    assert frame["loss"].tolist() == pytest.approx(expected, rel=1e-12)
    assert [r["config"] for r in result.records] == configs
    assert frame["run_id"].tolist() == [run_key(c, "sweep_fns:power_law_run", VERSIONS) for c in configs]
    curves = result.curves
    assert list(curves.columns) == ["run_id", "step", "loss"] and len(curves) == 6 * 5
    last = curves.groupby("run_id", sort=False)["loss"].last()
    assert last.loc[frame["run_id"]].tolist() != frame["loss"].tolist()  # curve ends above final
    merged = curves.merge(frame[["run_id", "n"]], on="run_id")
    assert set(merged["n"]) == {1, 10, 100}
    # One file per run, named by its key, nothing else left in the folder.
    folder = tmp_path / "cache" / "demo"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{k}.json" for k in frame["run_id"])


def test_rerun_reads_the_cache_and_runs_only_new_configs(tmp_path):
    first = sweep(sweep_fns.power_law_run, grid(n=[1, 10]), tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "demo").glob("*.json")}
    second = sweep(sweep_fns.power_law_run, grid(n=[1, 10, 100]), tmp_path)
    assert second.frame["cached"].tolist() == [True, True, False]
    assert [record_identity(r) for r in second.records[:2]] == [record_identity(r) for r in first.records]
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # cached records untouched
    # Another function, or other versions, are other runs.
    other = sweep(sweep_fns.power_law_run, grid(n=[1]), tmp_path, versions={"test": "2"})
    assert other.frame["cached"].tolist() == [False]


def test_duplicate_configs_run_once(tmp_path):
    result = sweep(sweep_fns.power_law_run, [{"n": 2}, {"n": 3}, {"n": 2}], tmp_path)
    assert [r["config"]["n"] for r in result.records] == [2, 3]


def test_flat_output_is_taken_as_metrics(tmp_path):
    result = sweep(sweep_fns.flat_metrics_run, grid(n=[2, 4]), tmp_path)
    assert result.records[0]["metrics"] == {"loss": 0.5, "accuracy": 0.5}
    assert result.records[0]["curve"] is None and result.curves.empty


def test_pool_and_in_process_give_identical_records(tmp_path):
    configs = grid(n=[1, 3, 9, 27])
    one = sweep(sweep_fns.power_law_run, configs, tmp_path / "a")
    two = sweep(sweep_fns.power_law_run, configs, tmp_path / "b", workers=2)
    assert [record_identity(r) for r in one.records] == [record_identity(r) for r in two.records]
    assert two.records[0]["meta"]["pid"] != os.getpid()
    assert one.records[0]["meta"]["pid"] == os.getpid()


def test_fit_to_sweep_output_recovers_the_law(tmp_path):
    result = sweep(sweep_fns.power_law_run, grid(n=[1, 10, 100, 1000]), tmp_path)
    slope, scale = sweep_fns.log_law(result.frame[["n", "loss"]].values)
    assert slope == pytest.approx(-sweep_fns.ALPHA, rel=1e-9)
    assert scale == pytest.approx(sweep_fns.A, rel=1e-9)


def test_nan_final_loss_is_kept_and_flagged(tmp_path):
    result = sweep(sweep_fns.diverging_run, grid(n=[10, 1000]), tmp_path)
    assert result.frame["diverged"].tolist() == [False, True]
    assert math.isnan(result.frame["loss"].iloc[1])
    assert result.diverged == [{"n": 1000}]
    again = sweep(sweep_fns.diverging_run, grid(n=[10, 1000]), tmp_path)  # NaN survives the file
    assert again.frame["cached"].all() and again.frame["diverged"].tolist() == [False, True]


def test_failing_runs_are_reported_after_the_others_finish(tmp_path, capsys):
    configs = grid(n=[1, 2, 3], fail_on=[[2]])
    with pytest.raises(SweepError) as info:
        sweep(sweep_fns.failing_run, configs, tmp_path, retries=1)
    err = info.value
    assert len(err.failures) == 1 and err.failures[0].config == {"n": 2, "fail_on": [2]}
    assert err.failures[0].attempts == 2
    assert "RuntimeError: diverging optimiser at n=2" in str(err)
    assert '{"fail_on":[2],"n":2}' in str(err)
    assert [r["config"]["n"] for r in err.result.records] == [1, 3]
    assert "retrying" in capsys.readouterr().err
    cache = RunCache(tmp_path / "cache", "demo")
    assert len(cache.keys()) == 2 and not cache.temporary_files()  # no record of the failure


def test_retries_bound_the_attempts(tmp_path):
    configs = grid(n=[5], marker_dir=str(tmp_path))
    with pytest.raises(SweepError, match="OSError: transient"):
        sweep(sweep_fns.flaky_run, configs, tmp_path, retries=0)
    result = sweep(sweep_fns.flaky_run, grid(n=[6], marker_dir=str(tmp_path)), tmp_path, retries=1)
    assert result.records[0]["meta"]["attempt"] == 2


def test_a_bad_return_value_is_a_reported_failure(tmp_path):
    with pytest.raises(SweepError, match="must return a dict"):
        sweep(sweep_fns.bad_output_run, grid(n=[1]), tmp_path, retries=0)


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage"])
def test_a_corrupt_record_is_reported_moved_aside_and_rerun(tmp_path, capsys, damage):
    first = sweep(sweep_fns.power_law_run, grid(n=[4, 8]), tmp_path)
    key = first.records[0]["key"]
    path = tmp_path / "cache" / "demo" / f"{key}.json"
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "edit":
        path.write_text(text.replace('"loss":' + json.dumps(first.records[0]["metrics"]["loss"]),
                                     '"loss":0.123'))
    else:
        path.write_bytes(b"\x00\xff not json")
    again = sweep(sweep_fns.power_law_run, grid(n=[4, 8]), tmp_path)
    assert "unusable" in capsys.readouterr().err
    assert again.frame["cached"].tolist() == [False, True]
    assert record_identity(again.records[0]) == record_identity(first.records[0])
    assert len(list((tmp_path / "cache" / "demo" / "corrupt").iterdir())) == 1


def test_a_worker_killed_mid_sweep_loses_no_run(tmp_path):
    # The first attempt at n=3 kills its worker process; the pool restarts and the runs
    # it held are retried.
    configs = grid(n=[1, 2, 3, 4], marker_dir=str(tmp_path), die_on=3)
    result = sweep(sweep_fns.dies_once_run, configs, tmp_path, workers=2, retries=2)
    assert [r["config"]["n"] for r in result.records] == [1, 2, 3, 4]
    assert (tmp_path / "died-3").exists()


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import sweep_fns
from scalinglab.sweep import grid, run_sweep
if __name__ == "__main__":
    run_sweep(sweep_fns.power_law_run, grid(n=list(range(1, 13)), sleep=0.25),
              namespace="demo", cache_dir={cache!r}, versions={{"test": "1"}},
              workers={workers}, progress=False)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_sweep_resumes_without_losing_finished_runs(tmp_path, workers):
    cache = tmp_path / "cache"
    script = tmp_path / "sweep.py"
    script.write_text(KILL_SCRIPT.format(tests=str(TESTS), cache=str(cache), workers=workers))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = cache / "demo"
    try:
        deadline = time.monotonic() + 90
        while len(list(folder.glob("*.json"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep wrote no records"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes
        proc.wait()
    killed_with = {p.stem for p in folder.glob("*.json")}
    assert 3 <= len(killed_with) < 12
    store = RunCache(cache, "demo")
    for key in killed_with:  # every file present is a complete record
        assert store.load(key) is not None
    resumed = run_sweep(sweep_fns.power_law_run, grid(n=list(range(1, 13)), sleep=0.25),
                        namespace="demo", cache_dir=cache, versions=VERSIONS, progress=False)
    cached = {r["key"] for r, c in zip(resumed.records, resumed.cached) if c}
    assert cached >= killed_with and len(resumed.records) == 12
    assert not store.temporary_files()
    for key in store.keys():
        assert store.load(key) is not None


def test_progress_bar_counts_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_PROGRESS", "1")
    sweep(sweep_fns.power_law_run, grid(n=[1, 2, 3]), tmp_path, progress=True, desc="widths")
    assert "widths" in capsys.readouterr().err
    sweep(sweep_fns.power_law_run, grid(n=[4]), tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="namespace"):
        sweep(sweep_fns.power_law_run, grid(n=[1]), tmp_path, namespace="../up")
    with pytest.raises(ValueError, match="top-level function"):
        sweep(lambda c: {}, grid(n=[1]), tmp_path)
    with pytest.raises(TypeError, match="list of dicts"):
        sweep(sweep_fns.power_law_run, {"n": 1}, tmp_path)
    with pytest.raises(ValueError, match="executor='spark' is not one of"):
        sweep(sweep_fns.power_law_run, grid(n=[1]), tmp_path, executor="spark")
    with pytest.raises(ValueError, match="unknown resource 'memory'"):
        sweep(sweep_fns.power_law_run, grid(n=[1]), tmp_path, resources={"memory": 4})
    with pytest.raises(ValueError, match="retries"):
        sweep(sweep_fns.power_law_run, grid(n=[1]), tmp_path, retries=-1)


def test_default_cache_dir_and_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "c"))
    result = run_sweep(sweep_fns.power_law_run, grid(n=[2]), namespace="x", progress=False)
    from scalinglab.base.provenance import library_hash
    assert result.records[0]["versions"] == {"scalinglab": library_hash()}
    assert (tmp_path / "c" / "runs" / "x" / f"{result.run_ids[0]}.json").exists()


def test_load_sweep_reads_a_namespace_whatever_version_made_it(tmp_path):
    from scalinglab.sweep import load_sweep
    sweep(sweep_fns.power_law_run, grid(n=[4, 2]), tmp_path, versions={"test": "old"})
    sweep(sweep_fns.flat_metrics_run, grid(n=[3]), tmp_path)
    (tmp_path / "cache" / "demo" / "broken.json").write_text("{")
    everything = load_sweep("demo", cache_dir=tmp_path / "cache")
    assert len(everything) == 3 and all(everything.cached)
    runs = load_sweep("demo", cache_dir=tmp_path / "cache", fn=sweep_fns.power_law_run)
    assert [r["config"]["n"] for r in runs.records] == [2, 4]  # sorted by config
    assert runs.frame["loss"].tolist() == pytest.approx([sweep_fns.A * n ** -sweep_fns.ALPHA for n in (2, 4)])
