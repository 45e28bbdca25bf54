"""The trainer: determinism, learning, curves and counts, schedules, configs, sweeps."""
import math
import pickle

import numpy as np
import pytest

from scalinglab.train import code_version, eval_steps, lr_multiplier, resolve_config, train_run

SYNTH = {"source": "synthetic", "vocab_size": 16, "order": 1, "branching": 2, "teleport": 0.05,
         "train_tokens": 50_000, "val_tokens": 5_000, "document_length": 500}


def small(**kw):
    config = {"n_layer": 1, "d_model": 32, "n_head": 2, "context": 32, "batch_size": 8,
              "steps": 40, "lr": 1e-2, "data": SYNTH, "device": "cpu", "threads": 1,
              "deterministic": True, "eval_points": 6, "eval_windows": 32, "seed": 0}
    config.update(kw)
    return config


def test_a_run_is_bit_identical_when_repeated():
    a, b = train_run(small()), train_run(small())
    assert a["curve"] == b["curve"] and a["metrics"] == b["metrics"]
    c = train_run(small(seed=1))
    assert c["curve"]["loss"] != a["curve"]["loss"]
    assert c["curve"]["loss"][0] != a["curve"]["loss"][0]  # a different initialisation


def test_the_model_learns_the_chain_down_to_its_entropy_rate():
    record = train_run(small(steps=150, eval_windows=64))
    m = record["metrics"]
    floor = m["entropy_rate"]
    assert record["curve"]["loss"][0] == pytest.approx(math.log(16), abs=0.05)
    assert m["loss"] < floor + 0.1  # near the truth ...
    assert m["loss"] > floor - 0.05  # ... and not below it beyond sampling noise
    assert m["bpb"] is None  # tokens are not bytes


def test_curve_columns_tokens_and_flops():
    record = train_run(small(steps=20, eval_points=4, batch_size=4, context=16))
    curve, counts, m = record["curve"], record["counts"], record["metrics"]
    assert curve["step"] == eval_steps(20, 4) == [0, 1, 3, 7, 20]
    assert len({len(col) for col in curve.values()}) == 1
    assert curve["tokens"] == [s * 4 * 16 for s in curve["step"]]
    assert curve["flops"] == [6 * counts["params_non_embedding"] * t for t in curve["tokens"]]
    assert m["flops"] == curve["flops"][-1] and m["tokens"] == 20 * 64
    assert m["N"] == counts["params_non_embedding"] and m["N_total"] > m["N"]
    assert curve["train_loss"][0] is None and all(v > 0 for v in curve["train_loss"][1:])
    assert m["epochs"] == pytest.approx(m["tokens"] / m["unique_tokens"])
    assert record["resolved"]["n_head"] == 2 and not record["diverged"]


def test_byte_corpus_reports_bits_per_byte():
    record = train_run(small(data="pysrc", steps=3, eval_points=2, eval_windows=4, data_limit=5000))
    m = record["metrics"]
    assert m["bpb"] == pytest.approx(m["loss"] / math.log(2))
    assert m["unique_tokens"] == 64 * (5000 // 64)  # 64 pieces spread over the corpus


def test_gradient_accumulation_matches_the_full_batch():
    full = train_run(small(steps=10, eval_points=3))
    accumulated = train_run(small(steps=10, eval_points=3, micro_batch=2))
    assert np.allclose(full["curve"]["loss"], accumulated["curve"]["loss"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("kw", [dict(positions="rotary"), dict(tie_embeddings=True),
                                dict(lr_schedule="wsd"), dict(lr_schedule="constant"),
                                dict(dropout=0.1), dict(tokens=1000)])
def test_variants_train(kw):
    record = train_run(small(steps=5, eval_points=2, **kw) if "tokens" not in kw else
                       {**small(eval_points=2), "steps": None, **kw})
    assert record["metrics"]["loss"] < record["curve"]["loss"][0]


def test_per_position_losses():
    record = train_run(small(steps=5, eval_points=2, eval_positions=True))
    assert len(record["position_loss"]) == 32
    assert np.mean(record["position_loss"]) == pytest.approx(record["metrics"]["loss"])


def test_lr_in_the_curve_follows_the_schedule():
    record = train_run(small(steps=30, eval_points=5, lr=0.01, warmup=3, min_lr_ratio=0.1))
    for step, lr in zip(record["curve"]["step"][1:], record["curve"]["lr"][1:]):
        assert lr == pytest.approx(0.01 * lr_multiplier(step - 1, 30, "cosine", 3, 0.1))
    assert record["curve"]["lr"][-1] == pytest.approx(0.001)


def test_schedules():
    total = 100
    cos = [lr_multiplier(s, total, "cosine", warmup=10, min_ratio=0.1) for s in range(total)]
    assert cos[0] == pytest.approx(0.1) and cos[9] == pytest.approx(1.0) and cos[10] == pytest.approx(1.0)
    assert cos[-1] == pytest.approx(0.1) and all(a >= b for a, b in zip(cos[10:], cos[11:]))
    assert lr_multiplier(54, total, "cosine", 10, 0.0) == pytest.approx(0.5, abs=0.02)  # half-way
    const = [lr_multiplier(s, total, "constant", warmup=0.05) for s in range(total)]
    assert const[4] == 1.0 and const[0] == pytest.approx(0.2) and const[-1] == 1.0
    wsd = [lr_multiplier(s, total, "wsd", warmup=0, min_ratio=0.0, cooldown=0.2) for s in range(total)]
    assert wsd[79] == 1.0 and wsd[80] == pytest.approx(0.95) and wsd[-1] == pytest.approx(0.0)
    sqrt = lr_multiplier(84, total, "wsd", 0, 0.0, 0.2, "1-sqrt")
    assert sqrt == pytest.approx(1 - math.sqrt(5 / 20))
    for kw, match in [(dict(kind="step"), "schedule"), (dict(min_ratio=2.0), "min_ratio"),
                      (dict(cooldown_shape="cos"), "cooldown_shape")]:
        with pytest.raises(ValueError, match=match):
            lr_multiplier(0, 10, **{"kind": "cosine", **kw})


def test_eval_steps_are_log_spaced():
    steps = eval_steps(10_000, 9)
    assert steps[0] == 0 and steps[-1] == 10_000 and steps[1] == 1
    ratios = np.diff(np.log(steps[1:]))
    assert np.allclose(ratios, np.log(10_000) / 8, atol=0.06)


@pytest.mark.parametrize("config, match", [
    ({"steps": 1, "n_embd": 4}, "unknown config key"),
    ({"steps": 1, "tokens": 10}, "exactly one of"),
    ({}, "exactly one of"),
    ({"steps": 4, "batch_size": 6, "micro_batch": 4}, "must divide"),
    ({"steps": 0}, "positive integer"),
    ({"steps": 2, "lr_schedule": "linear"}, "lr_schedule"),
    ({"steps": 2, "data_limit": 3}, "data_limit"),
    ({"steps": 2, "precision": "fp8"}, "precision"),
])
def test_bad_configs_are_refused(config, match):
    with pytest.raises(ValueError, match=match):
        resolve_config(config)


def test_tokens_set_the_number_of_steps():
    cfg = resolve_config({"tokens": 10_000, "batch_size": 4, "context": 64})
    assert cfg["steps"] == math.ceil(10_000 / 256) and cfg["n_head"] == 2


def test_train_run_pickles_and_runs_through_the_cached_sweep(tmp_path):
    assert pickle.loads(pickle.dumps(train_run)) is train_run
    sweep = pytest.importorskip("scalinglab.sweep")
    configs = [small(steps=3, eval_points=2, d_model=d) for d in (16, 32)]
    first = sweep.run_sweep(train_run, configs, namespace="test/train", cache_dir=tmp_path,
                            progress=False, versions=code_version())
    again = sweep.run_sweep(train_run, configs, namespace="test/train", cache_dir=tmp_path,
                            progress=False, versions=code_version())
    assert list(first.frame["loss"]) == list(again.frame["loss"])
    assert len(list((tmp_path / "test" / "train").glob("*.json"))) == 2
    assert set(first.curves["run_id"]) and len(first.curves) == 2 * 3


def test_code_version_is_stable():
    assert code_version() == code_version() and len(code_version()) == 16
