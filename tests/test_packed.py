"""Sweep packing: K runs of one shape trained together give each run's own record.

A packed run's record must equal train_run's for the same config alone. On CPU it does,
bit for bit (every matrix product is batched with the arithmetic of the run's own; see
scalinglab.train.packed), so these tests compare exactly; ``RTOL`` is the tolerance to
fall back on if a torch upgrade breaks that (the docstring of scalinglab.train.packed
must then say so).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab.sweep import run_sweep
from scalinglab.sweep.cache import canonical_json, record_identity
from scalinglab.train import train_run
from scalinglab.train.packed import CPU_MAX_PARAMS, pack_key, packable, train_packed

import sweep_fns
from test_train import SYNTH, small  # the trainer tests' small deterministic run

RTOL = 0.0  # bitwise: see the module docstring of scalinglab.train.packed
FLOATS = ("loss", "bpb", "train_loss", "min_loss")


def close(a, b, rtol=RTOL):
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b if rtol == 0 else a == pytest.approx(b, rel=rtol, abs=1e-12)


def assert_same_record(packed: dict, alone: dict, rtol=RTOL) -> None:
    """Equal, but for the losses, which agree to ``rtol``."""
    assert set(packed) == set(alone)
    assert packed["resolved"] == alone["resolved"]
    assert packed["counts"] == alone["counts"]
    assert packed["diverged"] == alone["diverged"]
    assert set(packed["curve"]) == set(alone["curve"])
    for name, column in alone["curve"].items():
        if name in FLOATS:
            assert len(packed["curve"][name]) == len(column), name
            assert all(close(p, a, rtol) for p, a in zip(packed["curve"][name], column)), (name, packed["curve"][name], column)
        else:
            assert packed["curve"][name] == column, name
    for name, value in alone["metrics"].items():
        if name in FLOATS:
            assert close(packed["metrics"][name], value, rtol), name
        else:
            assert packed["metrics"][name] == value, name
    if "position_loss" in alone:
        assert np.allclose(packed["position_loss"], alone["position_loss"], rtol=rtol, atol=0)
    if rtol == 0:
        assert canonical_json(packed) == canonical_json(alone)  # NaN too
    # the initialisation is the run's own, bit for bit
    assert packed["curve"]["loss"][0] == alone["curve"]["loss"][0]


@pytest.mark.parametrize("threads", [dict(threads=1, deterministic=True), dict(threads=2, deterministic=False)])
def test_packed_runs_equal_the_runs_alone(threads):
    configs = [small(lr=1e-2, seed=0, **threads), small(lr=3e-3, seed=1, **threads),
               small(lr=2e-2, seed=2, weight_decay=0.0, grad_clip=0.5, **threads),
               small(lr=5e-3, seed=3, lr_schedule="wsd", warmup=5, betas=[0.9, 0.99], data_limit=5_000, **threads)]
    assert len({pack_key(c) for c in configs}) == 1
    packed = train_packed(configs)
    for config, record in zip(configs, packed):
        alone = train_run(config)
        assert_same_record(record, alone)
        assert record["metrics"]["loss"] < record["curve"]["loss"][0]  # it learned
    # different seeds and rates give different runs (nothing was shared by mistake)
    assert len({r["curve"]["loss"][-1] for r in packed}) == len(packed)


@pytest.mark.parametrize("kw", [dict(positions="rotary"), dict(tie_embeddings=True), dict(bias=False),
                                dict(micro_batch=4, n_layer=2), dict(eval_positions=True)])
def test_packed_variants_equal_the_runs_alone(kw):
    configs = [small(steps=12, eval_points=3, lr=1e-2, **kw), small(steps=12, eval_points=3, lr=4e-3, seed=5, **kw)]
    for config, record in zip(configs, train_packed(configs)):
        assert_same_record(record, train_run(config))


def test_a_diverging_run_does_not_poison_its_pack():
    good = [small(lr=1e-2, seed=0), small(lr=3e-3, seed=1)]
    bad = small(lr=1e5, seed=2, grad_clip=0.0, weight_decay=0.0, betas=[0.0, 0.0])
    alone_bad = train_run(bad)
    assert alone_bad["diverged"] and not math.isfinite(alone_bad["metrics"]["loss"])
    records = train_packed([good[0], bad, good[1]])
    # It stops where it stops alone, with the same (exploding) losses.
    assert records[1]["diverged"] and records[1]["curve"]["step"] == alone_bad["curve"]["step"]
    assert records[1]["metrics"]["steps"] == alone_bad["metrics"]["steps"] < bad["steps"]
    assert math.isnan(records[1]["metrics"]["loss"])
    assert_same_record(records[1], alone_bad)
    together = train_packed(good)
    for config, record, without in zip(good, (records[0], records[2]), together):
        assert not record["diverged"] and math.isfinite(record["metrics"]["loss"])
        assert_same_record(record, train_run(config))
        assert record["curve"] == without["curve"]  # the NaN run changed no bit of the others


def test_pack_keys():
    base = small()
    assert packable(base)
    same = [small(lr=1e-3), small(seed=7), small(weight_decay=0.0), small(lr_schedule="constant"),
            small(data_limit=4_000), small(grad_clip=0.0), small(eval_positions=True),
            {**small(steps=None), "tokens": 40 * 8 * 32}]
    assert all(pack_key(c) == pack_key(base) for c in same)
    other = [small(d_model=64), small(n_layer=2), small(context=16), small(batch_size=4), small(steps=41),
             small(eval_points=5), small(threads=2), small(data="pysrc"), small(micro_batch=4)]
    assert all(pack_key(c) not in (None, pack_key(base)) for c in other)
    for unsupported in (small(dropout=0.1), small(compile=True), small(parametrization="mup"),
                        small(mup_base_width=16), small(no_such_key=1), small(steps=0)):
        assert pack_key(unsupported) is None
    with pytest.raises(ValueError):
        train_packed([small(), small(d_model=64)])
    # on CPU, larger models are supported but left alone by run_sweep (packing is slower there)
    large = small(d_model=128, n_head=4)
    assert packable(large) and pack_key(large) is None
    assert 12 * 1 * 128 ** 2 > CPU_MAX_PARAMS >= 12 * 1 * 32 ** 2


def test_run_sweep_packs_train_run_and_caches_each_run(tmp_path):
    configs = [small(steps=10, eval_points=3, lr=lr, seed=s) for lr, s in ((1e-2, 0), (3e-3, 1), (2e-2, 2))]
    configs.append(small(steps=10, eval_points=3, d_model=16))  # another shape: alone
    packed = run_sweep(train_run, configs, namespace="packing/sweep", cache_dir=tmp_path / "on", progress=False)
    alone = run_sweep(train_run, configs, namespace="packing/sweep", cache_dir=tmp_path / "off", progress=False,
                      pack=1)
    assert [r["meta"].get("packed") for r in packed.records] == [3, 3, 3, None]
    assert all("packed" not in r["meta"] for r in alone.records)
    # the same records, bit for bit, but for where and how they ran
    assert [record_identity(r) for r in packed] == [record_identity(r) for r in alone]
    assert len(list((tmp_path / "on" / "packing" / "sweep").glob("*.json"))) == 4
    again = run_sweep(train_run, configs, namespace="packing/sweep", cache_dir=tmp_path / "on", progress=False)
    assert all(again.cached) and [record_identity(r) for r in again] == [record_identity(r) for r in packed]


@pytest.mark.parametrize("workers", [1, 2])
def test_run_sweep_groups_packs_by_key_and_size(tmp_path, monkeypatch, workers):
    log = tmp_path / "packs.log"
    monkeypatch.setenv(sweep_fns.PACK_LOG, str(log))
    configs = ([{"n": n, "shape": 1} for n in range(1, 10)] + [{"n": n, "shape": 2} for n in (1, 2)]
               + [{"n": 5, "shape": 3}, {"n": 7, "alone": True}])
    result = run_sweep(sweep_fns.packable_run, configs, namespace="packing/groups", cache_dir=tmp_path,
                       progress=False, pack=4, workers=workers)
    assert sorted(int(x) for x in log.read_text().split()) == [2, 3, 3, 3]  # 9 runs: 3+3+3; 2; never 1
    assert [r["metrics"]["n"] for r in result] == [c["n"] for c in configs]
    sizes = [r["meta"].get("packed") for r in result]
    assert sizes == [3] * 9 + [2, 2] + [None, None]
    plain = run_sweep(sweep_fns.power_law_run, configs, namespace="packing/plain", cache_dir=tmp_path,
                      progress=False)
    assert [r["metrics"] for r in result] == [r["metrics"] for r in plain]
    log.unlink()
    run_sweep(sweep_fns.packable_run, configs, namespace="packing/groups", cache_dir=tmp_path, progress=False)
    assert not log.exists()  # all cached: nothing packed, nothing run


def test_a_failed_pack_runs_its_members_alone(tmp_path, monkeypatch):
    log = tmp_path / "packs.log"
    monkeypatch.setenv(sweep_fns.PACK_LOG, str(log))
    configs = [{"n": n, "break_pack": True} for n in (1, 2, 3)]
    result = run_sweep(sweep_fns.packable_run, configs, namespace="packing/broken", cache_dir=tmp_path,
                       progress=False)
    assert log.read_text().split() == ["3"]
    assert [r["metrics"]["n"] for r in result] == [1, 2, 3]
    assert all("packed" not in r["meta"] for r in result)


def test_pack_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ValueError, match="pack="):
        run_sweep(sweep_fns.packable_run, [{"n": 1}], namespace="packing/bad", cache_dir=tmp_path, pack=0)
