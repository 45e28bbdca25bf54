"""muP in the GPT and the trainer: the standard path is unchanged, and a coordinate check.

The coordinate check (Yang et al. 2022, Tensor Programs V, Fig. 5 and App. D.1): train models
of several widths for a few Adam steps at one learning rate and look at the size of the
change of the output logits and of the last block's activations. Under muP both stay
roughly constant across widths; under the standard parametrisation they grow with width.
"""
import math

import pytest
import torch

from scalinglab.models.gpt import GPT, GPTConfig
from scalinglab.train import resolve_config, train_run
from scalinglab.train.trainer import make_optimizer

WIDTHS = (32, 64, 128, 256)

SYNTH = {"source": "synthetic", "vocab_size": 16, "order": 1, "branching": 2, "teleport": 0.05,
         "train_tokens": 50_000, "val_tokens": 5_000, "document_length": 500}


def small(**kw):
    config = {"n_layer": 2, "d_model": 32, "n_head": 2, "context": 32, "batch_size": 8, "steps": 20,
              "lr": 1e-2, "data": SYNTH, "device": "cpu", "threads": 1, "deterministic": True,
              "eval_points": 4, "eval_windows": 32, "seed": 0}
    config.update(kw)
    return config


# Held-out losses of small() and of a rotary, tied-embedding variant (seed 1), recorded
# with the trainer as it was before muP was added (git stash; torch 2.13 CPU, one thread).
# The sp path must give the same numbers: on that machine bit for bit; here within 1e-6
# relative, which any change of initialisation, attention scale or learning rate would
# exceed by orders of magnitude while last-bit differences of other CPU kernels would not.
BEFORE_MUP = {
    "default": ["0x1.674bfc6b00000p+1", "0x1.4dbad2bf00000p+1", "0x1.32e9d00680000p+1",
                "0x1.e3824fe400000p+0", "0x1.53ba5c6760000p+0"],
    "rotary_tied": ["0x1.672cfbf980000p+1", "0x1.4e3cef5c00000p+1", "0x1.36d841ea80000p+1",
                    "0x1.010f4daa40000p+1", "0x1.8e01cde540000p+0"],
}


@pytest.mark.parametrize("case, kw", [("default", {}),
                                      ("rotary_tied", dict(positions="rotary", tie_embeddings=True, seed=1))])
def test_sp_runs_are_unchanged(case, kw):
    losses = train_run(small(**kw))["curve"]["loss"]
    expected = [float.fromhex(h) for h in BEFORE_MUP[case]]
    assert losses == pytest.approx(expected, rel=1e-6, abs=0)
    explicit = train_run(small(parametrization="sp", **kw))["curve"]["loss"]
    assert explicit == losses  # the default is sp


def test_sp_optimizer_groups_are_the_two_of_before():
    model = GPT(GPTConfig(n_layer=1, d_model=32, n_head=2, context=8, vocab_size=16))
    opt = make_optimizer(model, resolve_config({"steps": 1}), "cpu")
    assert len(opt.param_groups) == 2 and all("lr_scale" not in g for g in opt.param_groups)


def test_mup_groups_and_init():
    base, width = 32, 128
    cfg = GPTConfig(n_layer=2, d_model=width, n_head=8, context=8, vocab_size=16,
                    parametrization="mup", mup_base_width=base)
    assert cfg.width_mult == 4.0
    model = GPT(cfg)
    opt = make_optimizer(model, resolve_config({"steps": 1, "parametrization": "mup", "d_model": width,
                                                "mup_base_width": base}), "cpu")
    scales = sorted(g["lr_scale"] for g in opt.param_groups)
    assert scales == [0.25, 1.0, 1.0]
    hidden = next(g for g in opt.param_groups if g["lr_scale"] == 0.25)["params"]
    block = model.blocks[0]
    assert {id(p) for p in hidden} == {id(m.weight) for b in model.blocks
                                       for m in (b.attn.qkv, b.attn.proj, b.mlp.fc, b.mlp.proj)}
    assert block.attn.qkv.weight.std().item() == pytest.approx(0.02 / 2, rel=0.05)   # 0.02 / sqrt(4)
    assert model.lm_head.weight.std().item() == pytest.approx(0.02, rel=0.05)        # readout: multiplier instead
    assert block.attn.scale == 1.0 / cfg.head_dim
    assert GPT(GPTConfig(n_layer=1, d_model=32, n_head=2, context=8, vocab_size=16)).lr_scales() == {}


@pytest.mark.parametrize("kw, match", [(dict(parametrization="mu"), "parametrization"),
                                       (dict(parametrization="mup", tie_embeddings=True), "tie_embeddings"),
                                       (dict(mup_base_width=0), "mup_base_width")])
def test_bad_mup_configs_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        resolve_config({"steps": 1, **kw})


def test_mup_trains():
    record = train_run(small(parametrization="mup", d_model=64, n_head=4, mup_base_width=32, steps=10))
    assert record["resolved"]["parametrization"] == "mup"
    assert record["metrics"]["loss"] < record["curve"]["loss"][0]


def coordinates(parametrization: str, width: int, base: int = 32, steps: int = 3, lr: float = 1e-2):
    """(mean |change of the logits|, mean |last block's output|) after ``steps`` Adam steps on one batch."""
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=2, d_model=width, n_head=width // 16, context=8, vocab_size=32,
                    parametrization=parametrization, mup_base_width=base)
    model = GPT(cfg)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randint(0, 32, (4, 8), generator=gen), torch.randint(0, 32, (4, 8), generator=gen)
    opt = make_optimizer(model, resolve_config({"steps": 1, "parametrization": parametrization, "d_model": width,
                                                "mup_base_width": base, "weight_decay": 0.0}), "cpu")
    for group in opt.param_groups:   # the trainer's step loop does the same
        group["lr"] = lr * group.get("lr_scale", 1.0)
    with torch.no_grad():
        before, _ = model(x)
    seen = {}
    hook = model.blocks[-1].register_forward_hook(lambda m, i, out: seen.__setitem__("h", out))
    for _ in range(steps):
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after, _ = model(x)
    hook.remove()
    return (after - before).abs().mean().item(), seen["h"].abs().mean().item()


def test_coordinate_check():
    sizes = {p: [coordinates(p, w) for w in WIDTHS] for p in ("sp", "mup")}
    for i, name in enumerate(("logit update", "activations")):
        mup = [s[i] for s in sizes["mup"]]
        sp = [s[i] for s in sizes["sp"]]
        # muP: roughly constant across an 8x range of widths
        assert max(mup) / min(mup) < 2.0, (name, mup)
        # sp: grows with width, several-fold over the same range
        assert all(b > a for a, b in zip(sp, sp[1:])), (name, sp)
        assert sp[-1] / sp[0] > 2.5, (name, sp)
    assert all(math.isfinite(v) for s in sizes.values() for t in s for v in t)
