"""Sweep packing: train several runs of one model shape together, as one stacked model.

    from scalinglab.train.packed import pack_key, train_packed
    records = train_packed([config_a, config_b, config_c])   # == [train_run(c) for c in ...]

Learning-rate, seed and weight-decay grids are many runs of one shape. A tiny GPT pays
per operation (dispatch, autograd, on a GPU a kernel launch) as much as for its
arithmetic, so K runs stacked into one model do K times the arithmetic in about one
run's operations. :func:`train_packed` does that:

* every run's model is built as :func:`~scalinglab.train.trainer.train_run` builds it
  (``torch.manual_seed(seed)``, ``GPT(...)``, the weight perturbation of stability
  checks), then its parameters are stacked, one ``(K, ...)`` leaf tensor per parameter;
* one forward and backward pass serves the K models (:class:`_Batched`): the GPT's own
  operations with the K models folded into the batch, every matrix product a ``bmm`` /
  ``baddbmm`` over the K models, attention over K x batch sequences; LayerNorm and the
  cross-entropy mean are called once per model (cheap, and they round differently when
  batched);
* each run keeps its own ``nn.Module`` whose parameters are *views* of its slice of the
  stacked tensors, and its own optimizer from ``trainer.make_optimizer`` (AdamW, weight
  decay on dim >= 2 tensors only); after the backward pass each run's gradients are its
  slices of the stacked gradients, clipped by that run's own global norm
  (``clip_grad_norm_``) and stepped by its own optimizer at its own learning rate and
  schedule: the optimizer arithmetic is train_run's, call for call;
* each run draws its batches from its own generator, seeded as in train_run (and may
  have its own ``data_limit``);
* each run is evaluated alone, with ``trainer.evaluate`` on its own module, at the same
  steps; a run whose held-out loss turns NaN or infinite stops there (as in train_run:
  its optimizer is no longer stepped, its record ends at that evaluation) while the
  others go on. Nothing in the batched arithmetic mixes models, so a diverging run
  changes no bit of the others.

Equivalence: on CPU a packed run's record is bitwise identical to train_run's for the
same config (tested in ``tests/test_packed.py`` for learned and rotary positions, tied
embeddings, no biases, gradient accumulation, per-position losses, different rates,
schedules, seeds, weight decay, clipping and data limits): a batched ``bmm`` computes
each model's product with the kernel and summation order of the model's own ``mm``, and
everything that would round differently when batched (LayerNorm's affine gradients, the
loss mean) is done per model. This rests on the CPU kernels of the torch in use; the
tests say so when a torch upgrade breaks it. On CUDA the same code runs but is not
tested here: expect agreement to float32 rounding (relative ~1e-6), not bits.
``deterministic`` runs need bits, so :func:`pack_key` packs them on CPU only.

Speed (``benchmarks/bench_packing.py``, batch 16 x context 64, one thread, on a 2-core
CPU shared with other jobs): packing K = 4 to 8 runs gave 1.1x to 1.6x the throughput of
training them one after another at 1e4 to 3e4 parameters, and 0.7x at 1e5 (K = 16 was
slower than K = 8 everywhere). At these sizes the CPU's time goes mostly to the
arithmetic and memory traffic of each operation, which K runs multiply, not to
per-operation overhead, and a K-times larger working set falls out of the caches. So on
CPU :func:`pack_key` packs only models up to :data:`CPU_MAX_PARAMS` parameters. The gain
should be larger where per-operation overhead dominates: a GPU (kernel launches; not
measured here) and very small batches.

:func:`pack_key` says which configs can share a pack: ``None`` for a config packing does
not support (dropout, ``torch.compile``, a parametrization other than "sp", a key this
module does not know at a non-default value), else a string equal for configs that
differ only in per-run values (:data:`PER_RUN`) and, on CPU, only for models up to
:data:`CPU_MAX_PARAMS`. :func:`scalinglab.sweep.run_sweep` finds
``train_run.packed`` and ``train_run.pack_key`` and packs pending runs automatically
(``pack=`` keyword, default 8; ``pack=1`` turns it off).
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scalinglab.train.trainer import (
    DEFAULTS, autocast_context, eval_steps, evaluate, load_data, lr_multiplier, make_optimizer,
    model_config, perturb_weights, resolve_config, resolve_device, run_record, torch_settings,
)

# Values each run of a pack may have for itself.
PER_RUN = ("seed", "lr", "lr_schedule", "warmup", "min_lr_ratio", "cooldown", "cooldown_shape",
           "betas", "adam_eps", "weight_decay", "grad_clip", "data_limit", "eval_positions")
# Values every run of a pack shares (they set the shapes and the step loop).
SHARED = ("model", "n_layer", "d_model", "n_head", "d_ff", "context", "positions", "tie_embeddings",
          "bias", "dropout", "data", "steps", "batch_size", "micro_batch", "eval_points",
          "eval_windows", "eval_batch", "device", "precision", "compile", "threads",
          "deterministic")
# Shared values packing supports only at these settings.
REQUIRED = {"dropout": 0.0, "compile": False}
OPTIONAL = {"parametrization": "sp"}  # keys other modules may add: packable at this value only
# ``tokens`` is resolved into ``steps``; ``parametrization`` (muP) only at "sp".
_HANDLED = set(PER_RUN) | set(SHARED) | {"tokens"} | set(OPTIONAL)


# On CPU, models above this many non-embedding parameters (12 n_layer d_model^2) trained
# slower packed than one by one (benchmarks/bench_packing.py): pack_key leaves them alone.
CPU_MAX_PARAMS = 50_000


def pack_key(config: dict[str, Any]) -> str | None:
    """A string equal for configs :func:`train_packed` can and should train together, or
    None when this config is trained alone: packing does not support it
    (:func:`packable`), or it runs on CPU with more than :data:`CPU_MAX_PARAMS`
    parameters, where packing does not pay (an invalid config is None too: train_run
    reports the error). ``run_sweep`` packs runs by this key."""
    key = _shared_key(config)
    if key is None:
        return None
    shared = json.loads(key)
    if shared["device"] == "cpu" and 12 * shared["n_layer"] * shared["d_model"] ** 2 > CPU_MAX_PARAMS:
        return None
    return key


def _shared_key(config: dict[str, Any]) -> str | None:
    """The values runs of one pack share, as a string; None when packing does not
    support this config."""
    try:
        cfg = resolve_config(config)
        device = resolve_device(cfg["device"])
    except Exception:  # noqa: BLE001 - train_run will say what is wrong
        return None
    if device not in ("cpu", "cuda") or (device == "cuda" and cfg["deterministic"]):
        return None
    for key, value in REQUIRED.items():
        if cfg[key] != value:
            return None
    for key, value in OPTIONAL.items():
        if key in cfg and cfg[key] != value:
            return None
    shared = {key: cfg[key] for key in SHARED}
    shared["device"] = device
    for key in sorted(set(cfg) - _HANDLED):
        # A key added to the trainer after this module: packable only at its default,
        # which is taken to mean "the behaviour before the key existed".
        if key not in DEFAULTS or cfg[key] != DEFAULTS[key][0]:
            return None
        shared[key] = cfg[key]
    return json.dumps(shared, sort_keys=True, default=str)


def packable(config: dict[str, Any]) -> bool:
    """Whether :func:`train_packed` supports this config (whatever its size)."""
    return _shared_key(config) is not None


def _expected_names(config) -> list[str]:
    """The parameter names of a GPT of this shape, in ``named_parameters`` order, as the
    batched forward below knows them; a model with others is not packed."""
    names = ["token_embedding.weight"]
    if config.positions == "learned":
        names.append("position_embedding.weight")
    parts = ["ln_attn", "attn.qkv", "attn.proj", "ln_mlp", "mlp.fc", "mlp.proj"]
    for i in range(config.n_layer):
        for part in parts:
            names.append(f"blocks.{i}.{part}.weight")
            if config.bias:
                names.append(f"blocks.{i}.{part}.bias")
    names.append("ln_final.weight")
    if config.bias:
        names.append("ln_final.bias")
    if not config.tie_embeddings:
        names.append("lm_head.weight")
    return names


class _Batched:
    """The forward pass of :class:`scalinglab.models.gpt.GPT` (standard parametrization)
    for K models at once, from parameters stacked (K, ...): the same operations, with
    matrix products as ``bmm``, attention over K * batch sequences, LayerNorm and the loss
    per model. ``tests/test_packed.py`` checks it against the module, bit for bit."""

    def __init__(self, model):
        self.config = model.config
        self.eps = model.ln_final.eps
        self.rotary = None
        if model.position_embedding is None:
            self.rotary = (model.rotary_cos, model.rotary_sin)

    def _norm(self, P, prefix, x):
        # One LayerNorm call per model: the fused kernel's own arithmetic, forward and
        # backward (an affine part batched by hand sums its gradients in another order).
        # unbind, not x[k]: the backward of K selects would zero-fill K full-size tensors.
        d = x.shape[-1]
        ws = P[f"{prefix}.weight"].unbind(0)
        bs = P[f"{prefix}.bias"].unbind(0) if f"{prefix}.bias" in P else [None] * len(ws)
        return torch.stack([F.layer_norm(xk, (d,), wk, bk, self.eps) for xk, wk, bk in zip(x.unbind(0), ws, bs)])

    @staticmethod
    def _linear(P, prefix, x):
        w = P[f"{prefix}.weight"].transpose(1, 2).contiguous()  # bmm is slower on a transposed view
        b = P.get(f"{prefix}.bias")
        return torch.bmm(x, w) if b is None else torch.baddbmm(b[:, None, :], x, w)

    def loss(self, P, tokens, targets):
        """Mean cross-entropy of each model on its own batch: tokens, targets (K, B, T)
        -> (K,)."""
        from scalinglab.models.gpt import apply_rotary

        c = self.config
        K, B, T = tokens.shape
        d, H = c.d_model, c.n_head
        emb = P["token_embedding.weight"]  # (K, V, d)
        offsets = (torch.arange(K, device=tokens.device) * c.vocab_size)[:, None, None]
        x = F.embedding(tokens + offsets, emb.reshape(K * c.vocab_size, d)).view(K, B * T, d)
        if self.rotary is None:
            x = (x.view(K, B, T, d) + P["position_embedding.weight"][:, None, :T, :]).view(K, B * T, d)
            rotary = None
        else:
            rotary = (self.rotary[0][:T], self.rotary[1][:T])
        for i in range(c.n_layer):
            pre = f"blocks.{i}"
            h = self._norm(P, f"{pre}.ln_attn", x)
            q, k, v = self._linear(P, f"{pre}.attn.qkv", h).split(d, dim=2)
            q, k, v = (t.reshape(K * B, T, H, c.head_dim).transpose(1, 2) for t in (q, k, v))
            if rotary is not None:
                q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).reshape(K, B * T, d)
            x = x + self._linear(P, f"{pre}.attn.proj", y)
            h = self._norm(P, f"{pre}.ln_mlp", x)
            h = F.gelu(self._linear(P, f"{pre}.mlp.fc", h), approximate="tanh")
            x = x + self._linear(P, f"{pre}.mlp.proj", h)
        x = self._norm(P, "ln_final", x)
        head = P["token_embedding.weight" if c.tie_embeddings else "lm_head.weight"]
        logits = torch.bmm(x, head.transpose(1, 2))
        # One mean per model, as the module takes it (a batched mean rounds differently).
        return torch.stack([F.cross_entropy(lk.float(), tk.reshape(-1))
                            for lk, tk in zip(logits.unbind(0), targets.unbind(0))])


def _schedule(cfg: dict[str, Any], step: int) -> float:
    return cfg["lr"] * lr_multiplier(step, cfg["steps"], cfg["lr_schedule"], cfg["warmup"],
                                     cfg["min_lr_ratio"], cfg["cooldown"], cfg["cooldown_shape"])


def train_packed(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train every config (all with one :func:`pack_key`) together; the records, in
    order, are those :func:`~scalinglab.train.trainer.train_run` returns for each alone
    (bit for bit on CPU: see the module docstring)."""
    configs = list(configs)
    if not configs:
        return []
    keys = [_shared_key(c) for c in configs]
    if keys[0] is None or any(k != keys[0] for k in keys):
        raise ValueError("train_packed needs packable configs that differ only in per-run values "
                         "(same shape, data, batch, steps, evaluation and device; no dropout, "
                         "compile or muP)")
    cfgs = [resolve_config(c) for c in configs]
    device = resolve_device(cfgs[0]["device"])
    with torch_settings(cfgs[0], device):
        corpus = load_data(cfgs[0]["data"])
        return _train_packed(cfgs, corpus, device)


def _train_packed(cfgs: list[dict[str, Any]], corpus, device: str) -> list[dict[str, Any]]:
    from scalinglab.models.counting import count_parameters, model_flops_per_token
    from scalinglab.models.gpt import GPT

    n_runs = len(cfgs)
    first = cfgs[0]
    # Each model exactly as train_run builds it.
    models = []
    for cfg in cfgs:
        seed = int(cfg["seed"])
        torch.manual_seed(seed)
        model = GPT(model_config(cfg, corpus.vocab_size)).to(device)
        perturb_weights(model, f"train.init:{seed}")
        models.append(model)
    base = models[0]
    counts = count_parameters(base)
    flops_6n = 6.0 * counts.non_embedding
    flops_model = model_flops_per_token(first["n_layer"], first["d_model"], first["n_head"],
                                        first["context"], corpus.vocab_size, base.config.d_ff)
    optimizers = [make_optimizer(model, cfg, device) for model, cfg in zip(models, cfgs)]

    # Stack: one leaf tensor (K, ...) per parameter; every run's parameters become views
    # of its slice, so its optimizer updates the stack in place.
    names = [name for name, _ in base.named_parameters()]  # tied weights appear once
    if names != _expected_names(base.config):
        raise RuntimeError("the GPT's parameters are not those the packed forward knows: "
                           f"{names}; train these runs alone")
    per_model = [dict(m.named_parameters()) for m in models]
    stacked = {}
    for name in names:
        stack = torch.stack([p[name].detach() for p in per_model]).requires_grad_(True)
        stacked[name] = stack
        for k, params in enumerate(per_model):
            params[name].data = stack.detach()[k]
    forward = _Batched(base)
    autocast = autocast_context(device, first["precision"])
    rngs = [np.random.default_rng(np.random.SeedSequence([int(cfg["seed"]), 0xDA7A])) for cfg in cfgs]
    eval_x, eval_y = corpus.eval_windows(first["context"], first["eval_windows"])
    eval_x, eval_y = eval_x.to(device), eval_y.to(device)
    nats_to_bits = 1.0 / math.log(2.0)
    bytes_per_token = corpus.bytes_per_token

    steps, batch, micro, context = first["steps"], first["batch_size"], first["micro_batch"], first["context"]
    tokens_per_step = batch * context
    unique = [corpus.distinct_tokens(cfg["data_limit"], context) for cfg in cfgs]
    checkpoints = set(eval_steps(steps, first["eval_points"]))
    curves = [{k: [] for k in ("step", "tokens", "flops", "flops_model", "loss", "bpb", "train_loss", "lr")}
              for _ in cfgs]
    train_sum = torch.zeros(n_runs, device=device)
    train_count = 0
    lrs = [_schedule(cfg, 0) for cfg in cfgs]
    active = [True] * n_runs
    diverged = [False] * n_runs
    position_loss: list[Any] = [None] * n_runs

    def record(k: int, step: int) -> None:
        cfg, curve = cfgs[k], curves[k]
        tokens = step * tokens_per_step
        want_positions = cfg["eval_positions"] and step == steps
        result = evaluate(models[k], eval_x, eval_y, cfg["eval_batch"], autocast, per_position=want_positions)
        if want_positions:
            result, position_loss[k] = result
        curve["step"].append(step)
        curve["tokens"].append(tokens)
        curve["flops"].append(flops_6n * tokens)
        curve["flops_model"].append(flops_model * tokens)
        curve["loss"].append(result)
        curve["bpb"].append(result * nats_to_bits / bytes_per_token if bytes_per_token else None)
        curve["train_loss"].append(float(train_sum[k]) / train_count if train_count else None)
        curve["lr"].append(lrs[k])

    for k in range(n_runs):
        record(k, 0)
    for step in range(steps):
        for k, (cfg, optimizer) in enumerate(zip(cfgs, optimizers)):
            lrs[k] = _schedule(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lrs[k] * group.get("lr_scale", 1.0)
        drawn = [corpus.train_batch(batch, context, rng, limit=cfg["data_limit"]) for rng, cfg in zip(rngs, cfgs)]
        x = torch.stack([d[0] for d in drawn]).to(device, non_blocking=True)
        y = torch.stack([d[1] for d in drawn]).to(device, non_blocking=True)
        for start in range(0, batch, micro):
            with autocast():
                loss = forward.loss(stacked, x[:, start:start + micro], y[:, start:start + micro])
            # The sum's gradient is 1 for every run's loss: nothing mixes runs.
            (loss * (micro / batch)).sum().backward()
            train_sum += loss.detach() * (micro / batch)
        train_count += 1
        grads = {name: stacked[name].grad.unbind(0) for name in names}
        for k, (model, cfg, optimizer) in enumerate(zip(models, cfgs, optimizers)):
            if not active[k]:
                continue
            params = per_model[k]
            for name in names:
                params[name].grad = grads[name][k]
            if cfg["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for name in names:
            stacked[name].grad = None
        if step + 1 in checkpoints:
            for k in range(n_runs):
                if active[k]:
                    record(k, step + 1)
                    if not math.isfinite(curves[k]["loss"][-1]):
                        diverged[k] = True
                        active[k] = False
            train_sum.zero_()
            train_count = 0
            if not any(active):
                break

    return [run_record(cfg, curves[k], counts, flops_6n, flops_model, tokens_per_step, unique[k],
                       corpus.entropy_rate, bytes_per_token, diverged[k], position_loss[k])
            for k, cfg in enumerate(cfgs)]


__all__ = ["train_packed", "pack_key", "packable", "PER_RUN", "SHARED", "CPU_MAX_PARAMS"]
