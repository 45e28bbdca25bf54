"""Train a language model from a plain-JSON config: the run function of the sweeps.

    record = train_run({"n_layer": 2, "d_model": 64, "context": 128, "data": "pysrc",
                        "tokens": 2_000_000, "lr": 3e-3, "seed": 0, "device": "cpu"})
    record["metrics"]["loss"]        # final held-out loss, nats per token
    record["curve"]["tokens"], record["curve"]["loss"]

The config is flat, so :func:`scalinglab.sweep.grid` can vary any key and a sweep's
frame has one column per key. :data:`DEFAULTS` lists every key with its default and
meaning; an unknown key is an error. ``train_run`` is a top-level function of JSON in,
JSON out, so it pickles to any executor.

What a run does:

* AdamW (weight decay on matrices only), a warmup + cosine / constant / WSD schedule,
  gradient clipping;
* random training windows drawn with a generator seeded from ``seed`` (the model's
  initialisation uses a separate stream), optionally from only ``data_limit`` training
  tokens, in pieces spread over the corpus (a data-limited run, repeated for several
  epochs);
* evaluation on a fixed set of held-out windows at log-spaced steps, in nats per token
  and bits per byte; the learning curve records tokens and FLOPs;
* bf16 autocast, fused AdamW and optional ``torch.compile`` on CUDA; flush-denormal on
  CPU (denormal floats made small GPTs 30x slower on a 2-core machine);
* with ``deterministic`` and one thread, two runs of one config give identical bits.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from scalinglab.base.perturb import WEIGHTS_ENV, perturbation, seed_from_tag
from scalinglab.train.schedules import COOLDOWN_SHAPES, SCHEDULES, lr_multiplier

# key -> (default, meaning). None means "derived" or "not used" as the meaning says.
DEFAULTS: dict[str, tuple[Any, str]] = {
    # model
    "model": ("gpt", "model family (gpt)"),
    "n_layer": (2, "transformer blocks"),
    "d_model": (64, "residual width"),
    "n_head": (None, "attention heads (None: d_model // 32, at least 1)"),
    "d_ff": (None, "MLP width (None: 4 * d_model)"),
    "context": (128, "tokens per training window"),
    "positions": ("learned", "learned | rotary"),
    "tie_embeddings": (False, "share input and output embeddings"),
    "bias": (True, "biases in linear layers and LayerNorms"),
    "dropout": (0.0, "dropout probability"),
    "parametrization": ("sp", "sp (standard, GPT-2) | mup (Maximal Update Parametrization, see models/gpt.py)"),
    "mup_base_width": (None, "muP: the d_model the hyperparameters are tuned at (None: this d_model, multiplier 1)"),
    # data
    "data": ("pysrc", "offline corpus name, or a dict: {'source': 'synthetic'|'hub'|'corpus', ...}"),
    "data_limit": (None, "train on only this many distinct tokens, spread over the corpus (None: all)"),
    # length and batch
    "steps": (None, "optimiser steps (give steps or tokens)"),
    "tokens": (None, "training tokens; steps = ceil(tokens / (batch_size * context))"),
    "batch_size": (32, "sequences per optimiser step"),
    "micro_batch": (None, "sequences per forward pass (gradient accumulation; None: batch_size)"),
    # optimiser
    "lr": (3e-3, "peak learning rate"),
    "lr_schedule": ("cosine", "cosine | constant | wsd"),
    "warmup": (0.02, "warmup steps (>= 1) or fraction of the run (< 1)"),
    "min_lr_ratio": (0.1, "final learning rate / peak (cosine, wsd)"),
    "cooldown": (0.2, "wsd: fraction of the run spent decaying"),
    "cooldown_shape": ("linear", "wsd: linear | 1-sqrt"),
    "betas": ([0.9, 0.95], "AdamW betas"),
    "adam_eps": (1e-8, "AdamW epsilon"),
    "weight_decay": (0.1, "AdamW decoupled weight decay on weight matrices"),
    "grad_clip": (1.0, "clip the global gradient norm (0: off)"),
    # evaluation
    "eval_points": (16, "evaluations, at log-spaced steps (plus step 0 and the last)"),
    "eval_windows": (64, "held-out windows in the fixed evaluation set"),
    "eval_batch": (64, "windows per evaluation forward pass"),
    "eval_positions": (False, "record the final loss at each context position"),
    # execution
    "seed": (0, "seed of the initialisation and of the batch order"),
    "device": ("auto", "auto | cpu | cuda | mps"),
    "precision": ("auto", "auto (bf16 on CUDA, fp32 elsewhere) | fp32 | bf16"),
    "compile": (False, "torch.compile the model"),
    "threads": (None, "CPU threads for this run (None: leave as is)"),
    "deterministic": (False, "deterministic kernels (bit-identical reruns at one thread)"),
}
PRECISIONS = ("auto", "fp32", "bf16")


# -- configuration ------------------------------------------------------------------------

def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every default filled in, checked; raises ValueError on a bad key."""
    if not isinstance(config, dict):
        raise ValueError(f"a training config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(DEFAULTS)}")
    cfg = {key: default for key, (default, _) in DEFAULTS.items()}
    cfg.update(config)
    if cfg["model"] != "gpt":
        raise ValueError(f"model={cfg['model']!r}: train_run trains 'gpt' language models")
    if cfg["n_head"] is None:
        cfg["n_head"] = max(1, int(cfg["d_model"]) // 32)
    if (cfg["steps"] is None) == (cfg["tokens"] is None):
        raise ValueError("give exactly one of steps= and tokens=")
    for key in ("batch_size", "n_layer", "d_model", "context", "eval_points", "eval_windows", "eval_batch"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or value != int(value):
            raise ValueError(f"{key}={value!r} must be a positive integer")
        cfg[key] = int(value)
    per_step = cfg["batch_size"] * cfg["context"]
    if cfg["tokens"] is not None:
        if not cfg["tokens"] >= 1:
            raise ValueError(f"tokens={cfg['tokens']!r} must be >= 1")
        cfg["steps"] = int(math.ceil(float(cfg["tokens"]) / per_step))
    if isinstance(cfg["steps"], bool) or not float(cfg["steps"]).is_integer() or cfg["steps"] < 1:
        raise ValueError(f"steps={cfg['steps']!r} must be a positive integer")
    cfg["steps"] = int(cfg["steps"])
    micro = cfg["micro_batch"] or cfg["batch_size"]
    if cfg["batch_size"] % micro:
        raise ValueError(f"micro_batch={micro} must divide batch_size={cfg['batch_size']}")
    cfg["micro_batch"] = int(micro)
    if not cfg["lr"] > 0:
        raise ValueError(f"lr={cfg['lr']!r} must be positive")
    if cfg["lr_schedule"] not in SCHEDULES:
        raise ValueError(f"lr_schedule={cfg['lr_schedule']!r} is not one of {', '.join(SCHEDULES)}")
    if cfg["cooldown_shape"] not in COOLDOWN_SHAPES:
        raise ValueError(f"cooldown_shape={cfg['cooldown_shape']!r} is not one of {', '.join(COOLDOWN_SHAPES)}")
    if cfg["precision"] not in PRECISIONS:
        raise ValueError(f"precision={cfg['precision']!r} is not one of {', '.join(PRECISIONS)}")
    from scalinglab.models.gpt import PARAMETRIZATIONS
    if cfg["parametrization"] not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization={cfg['parametrization']!r} is not one of {', '.join(PARAMETRIZATIONS)}")
    base = cfg["mup_base_width"]
    if base is not None:
        if isinstance(base, bool) or not isinstance(base, (int, float)) or base < 1 or base != int(base):
            raise ValueError(f"mup_base_width={base!r} must be a positive integer or None")
        cfg["mup_base_width"] = int(base)
    if cfg["parametrization"] == "mup" and cfg["tie_embeddings"]:
        raise ValueError("parametrization='mup' with tie_embeddings=True is not supported")
    if cfg["data_limit"] is not None:
        if not cfg["data_limit"] >= cfg["context"] + 1:
            raise ValueError(f"data_limit={cfg['data_limit']!r} must hold at least one window "
                             f"({cfg['context'] + 1} tokens)")
        cfg["data_limit"] = int(cfg["data_limit"])
    return cfg


def model_config(cfg: dict[str, Any], vocab_size: int):
    from scalinglab.models.gpt import GPTConfig
    return GPTConfig(n_layer=cfg["n_layer"], d_model=cfg["d_model"], n_head=cfg["n_head"],
                     d_ff=cfg["d_ff"], context=cfg["context"], vocab_size=vocab_size,
                     positions=cfg["positions"], tie_embeddings=cfg["tie_embeddings"],
                     bias=cfg["bias"], dropout=cfg["dropout"],
                     parametrization=cfg["parametrization"], mup_base_width=cfg["mup_base_width"])


# -- data ---------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _corpus_from_json(spec_json: str):
    spec = json.loads(spec_json)
    if isinstance(spec, str):
        spec = {"source": "corpus", "name": spec}
    spec = dict(spec)
    source = spec.pop("source", "corpus")
    if source == "corpus":
        from scalinglab.data.corpus import load_corpus
        return load_corpus(spec.pop("name", "pysrc"), progress=False)
    if source == "synthetic":
        from scalinglab.data.synthetic import ZipfMarkovSource
        sizes = {k: spec.pop(k) for k in ("train_tokens", "val_tokens", "document_length") if k in spec}
        sizes.setdefault("train_tokens", 2_000_000)
        sizes.setdefault("val_tokens", 200_000)
        return ZipfMarkovSource(**spec).corpus(**sizes)
    if source == "hub":
        from scalinglab.data.hub import load_hub_corpus
        return load_hub_corpus(spec.pop("path"), progress=False, **spec)
    raise ValueError(f"data source {source!r} is not 'corpus', 'synthetic' or 'hub'")


def load_data(data: Any):
    """The TokenCorpus a config's ``data`` entry names (cached in the process)."""
    return _corpus_from_json(json.dumps(data, sort_keys=True))


# -- execution settings ---------------------------------------------------------------------

def resolve_device(device: str) -> str:
    from scalinglab.base.profiles import resolve_device as _resolve
    return _resolve(device)


@contextlib.contextmanager
def torch_settings(cfg: dict[str, Any], device: str):
    """Threads, deterministic kernels and flush-denormal for one run, restored after."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if cfg["threads"]:
            torch.set_num_threads(int(cfg["threads"]))
        if cfg["deterministic"]:
            torch.use_deterministic_algorithms(True, warn_only=True)
        if device == "cpu":
            torch.set_flush_denormal(True)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def autocast_context(device: str, precision: str):
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "fp32"
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext


def make_optimizer(model: torch.nn.Module, cfg: dict[str, Any], device: str) -> torch.optim.Optimizer:
    """AdamW; weight decay on weight matrices and embeddings (dim >= 2) only. Under muP
    the hidden matrices get their own group with ``lr_scale`` = 1/width multiplier
    (``model.lr_scales()``); the step loop sets each group's rate to lr * lr_scale."""
    params = {id(p): p for p in model.parameters() if p.requires_grad}.values()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    scales = model.lr_scales() if cfg.get("parametrization", "sp") == "mup" else {}
    if scales:
        hidden = [p for p in decay if id(p) in scales]
        if len({scales[id(p)] for p in hidden}) != 1:
            raise ValueError("muP hidden matrices with different learning-rate scales")
        groups = [{"params": [p for p in decay if id(p) not in scales], "weight_decay": cfg["weight_decay"],
                   "lr_scale": 1.0},
                  {"params": hidden, "weight_decay": cfg["weight_decay"], "lr_scale": scales[id(hidden[0])]},
                  {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]
    else:
        groups = [{"params": decay, "weight_decay": cfg["weight_decay"]},
                  {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"lr": cfg["lr"], "betas": tuple(cfg["betas"]), "eps": cfg["adam_eps"]}
    # The fused kernel does the whole update in one pass (CUDA and CPU builds of torch).
    if device in ("cuda", "cpu"):
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, **kwargs)


def eval_steps(total_steps: int, points: int) -> list[int]:
    """Step 0, ``points`` log-spaced steps in [1, total], and the last step."""
    logs = np.unique(np.round(np.geomspace(1, total_steps, num=max(points, 1))).astype(int))
    return sorted({0, total_steps, *logs.tolist()})


# -- evaluation -------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch: int,
             autocast=contextlib.nullcontext, per_position: bool = False):
    """Mean held-out loss in nats per token (and the mean per context position)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    position_sum = torch.zeros(inputs.shape[1], dtype=torch.float64)
    for start in range(0, len(inputs), batch):
        x, y = inputs[start:start + batch], targets[start:start + batch]
        with autocast():
            _, loss = model(x, y, reduction="none")
        loss = loss.double().cpu()
        total += float(loss.sum())
        count += loss.numel()
        position_sum += loss.sum(dim=0)
    model.train(was_training)
    mean = total / count
    if per_position:
        return mean, (position_sum / len(inputs)).tolist()
    return mean


# -- the run ----------------------------------------------------------------------------------

def perturb_weights(model: torch.nn.Module, tag: str) -> None:
    """Multiply every parameter by ``(1 + eps * z)`` in place when
    ``SCALINGLAB_PERTURB_WEIGHTS`` is set (stability checks only, see
    :mod:`scalinglab.base.perturb`); ``z`` comes from a private generator seeded from
    ``tag``, so the seeded streams are untouched. eps is raised to the dtype's machine
    epsilon (1e-9 would not move a float32)."""
    eps = perturbation(WEIGHTS_ENV)
    if eps == 0.0:
        return
    gen = torch.Generator(device="cpu").manual_seed(seed_from_tag(tag))
    with torch.no_grad():
        for p in model.parameters():
            if not p.is_floating_point():
                continue
            scale = max(eps, torch.finfo(p.dtype).eps)
            z = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_((p.double() * (1.0 + scale * z.to(p.device))).to(p.dtype))


def train_run(config: dict[str, Any]) -> dict[str, Any]:
    """Train one GPT as ``config`` says and return its record: ``metrics`` (final),
    ``curve`` (columns at the evaluation steps), ``counts`` (parameters, FLOPs per
    token) and ``resolved`` (the config with defaults)."""
    cfg = resolve_config(config)
    device = resolve_device(cfg["device"])
    with torch_settings(cfg, device):
        corpus = load_data(cfg["data"])
        return _train(cfg, corpus, device)


def _train(cfg: dict[str, Any], corpus, device: str, on_eval: Callable | None = None) -> dict[str, Any]:
    from scalinglab.models.counting import count_parameters, model_flops_per_token
    from scalinglab.models.gpt import GPT

    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    model = GPT(model_config(cfg, corpus.vocab_size)).to(device)
    perturb_weights(model, f"train.init:{seed}")
    counts = count_parameters(model)
    n_params = counts.non_embedding
    flops_6n = 6.0 * n_params
    flops_model = model_flops_per_token(cfg["n_layer"], cfg["d_model"], cfg["n_head"],
                                             cfg["context"], corpus.vocab_size, model.config.d_ff)
    optimizer = make_optimizer(model, cfg, device)
    step_model = torch.compile(model) if cfg["compile"] else model
    autocast = autocast_context(device, cfg["precision"])
    # The batch order has its own stream, so the same seed gives the same data to models
    # of every shape.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA7A]))
    eval_x, eval_y = corpus.eval_windows(cfg["context"], cfg["eval_windows"])
    eval_x, eval_y = eval_x.to(device), eval_y.to(device)
    nats_to_bits = 1.0 / math.log(2.0)
    bytes_per_token = corpus.bytes_per_token

    steps, batch, micro, context = cfg["steps"], cfg["batch_size"], cfg["micro_batch"], cfg["context"]
    tokens_per_step = batch * context
    limit = cfg["data_limit"]
    unique_tokens = corpus.distinct_tokens(limit, context)
    checkpoints = set(eval_steps(steps, cfg["eval_points"]))
    curve: dict[str, list] = {k: [] for k in ("step", "tokens", "flops", "flops_model", "loss", "bpb",
                                              "train_loss", "lr")}
    train_sum = torch.zeros((), device=device)
    train_count = 0
    lr = cfg["lr"] * lr_multiplier(0, steps, cfg["lr_schedule"], cfg["warmup"], cfg["min_lr_ratio"],
                                   cfg["cooldown"], cfg["cooldown_shape"])
    diverged = False
    position_loss = None

    def record(step: int) -> None:
        nonlocal position_loss
        tokens = step * tokens_per_step
        want_positions = cfg["eval_positions"] and step == steps
        result = evaluate(model, eval_x, eval_y, cfg["eval_batch"], autocast, per_position=want_positions)
        if want_positions:
            result, position_loss = result
        curve["step"].append(step)
        curve["tokens"].append(tokens)
        curve["flops"].append(flops_6n * tokens)
        curve["flops_model"].append(flops_model * tokens)
        curve["loss"].append(result)
        curve["bpb"].append(result * nats_to_bits / bytes_per_token if bytes_per_token else None)
        curve["train_loss"].append(float(train_sum) / train_count if train_count else None)
        curve["lr"].append(lr)
        if on_eval is not None:
            on_eval(step, result)

    model.train()
    record(0)
    for step in range(steps):
        lr = cfg["lr"] * lr_multiplier(step, steps, cfg["lr_schedule"], cfg["warmup"],
                                       cfg["min_lr_ratio"], cfg["cooldown"], cfg["cooldown_shape"])
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        x, y = corpus.train_batch(batch, context, rng, limit=limit)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for start in range(0, batch, micro):
            with autocast():
                _, loss = step_model(x[start:start + micro], y[start:start + micro])
            (loss * (micro / batch)).backward()
            train_sum += loss.detach() * (micro / batch)
        train_count += 1
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 in checkpoints:
            record(step + 1)
            train_sum.zero_()
            train_count = 0
            if not math.isfinite(curve["loss"][-1]):
                diverged = True
                break

    return run_record(cfg, curve, counts, flops_6n, flops_model, tokens_per_step, unique_tokens,
                      corpus.entropy_rate, bytes_per_token, diverged, position_loss)


def run_record(cfg: dict[str, Any], curve: dict[str, list], counts, flops_6n: float, flops_model: float,
               tokens_per_step: int, unique_tokens: int, entropy_rate: float | None,
               bytes_per_token: float | None, diverged: bool, position_loss: list | None) -> dict[str, Any]:
    """A run's record from its learning curve: what :func:`train_run` returns (and
    :func:`scalinglab.train.packed.train_packed` for each run of a pack)."""
    nats_to_bits = 1.0 / math.log(2.0)
    losses = [v for v in curve["loss"] if math.isfinite(v)]
    final = curve["loss"][-1]
    trained_steps = curve["step"][-1]
    tokens = trained_steps * tokens_per_step
    metrics = {
        "loss": final,
        "bpb": final * nats_to_bits / bytes_per_token if bytes_per_token else None,
        "min_loss": min(losses) if losses else float("nan"),
        "train_loss": curve["train_loss"][-1],
        "steps": trained_steps,
        "tokens": tokens,
        "flops": flops_6n * tokens,
        "flops_model": flops_model * tokens,
        "N": counts.non_embedding,
        "N_total": counts.total,
        "unique_tokens": unique_tokens,
        "epochs": tokens / unique_tokens,
        "entropy_rate": entropy_rate,
    }
    out = {
        "metrics": metrics,
        "curve": curve,
        "counts": {
            "params_total": counts.total, "params_embedding": counts.embedding,
            "params_non_embedding": counts.non_embedding, "params_kaplan": counts.kaplan,
            "flops_per_token_6n": flops_6n, "flops_per_token_model": flops_model,
        },
        "resolved": dict(cfg),
        "diverged": diverged,
    }
    if position_loss is not None:
        out["position_loss"] = position_loss
    return out


# -- sweep packing: run_sweep trains runs of one shape together (scalinglab.train.packed) --

def _train_packed(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from scalinglab.train.packed import train_packed
    return train_packed(configs)


def _pack_key(config: dict[str, Any]) -> str | None:
    from scalinglab.train.packed import pack_key
    return pack_key(config)


train_run.packed, train_run.pack_key = _train_packed, _pack_key


# -- code version ---------------------------------------------------------------------------------

_SOURCES = ("models/gpt.py", "models/counting.py", "data/corpus.py", "data/synthetic.py",
            "data/hub.py", "train/schedules.py", "train/trainer.py", "train/packed.py")


def code_version() -> str:
    """sha256 (16 hex digits) of the source files a training run depends on: pass it as
    ``versions=`` to ``run_sweep`` so cached runs are reused until this code changes
    (and only then)."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _SOURCES:
        h.update(rel.encode())
        h.update((package / rel).read_bytes())
    return h.hexdigest()[:16]


__all__ = ["DEFAULTS", "train_run", "run_record", "resolve_config", "evaluate", "eval_steps", "load_data",
           "make_optimizer", "model_config", "code_version", "torch_settings"]
