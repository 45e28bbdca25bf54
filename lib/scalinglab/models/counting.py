"""Parameter and FLOP counts, in the conventions the scaling-law papers use.

Parameters
----------
* :func:`kaplan_params` — Kaplan et al. 2020, Eq. 2.1: ``N = 2 d_model n_layer (2 d_attn +
  d_ff)``, i.e. ``12 n_layer d_model^2`` for the standard shape. Weight matrices of the
  blocks only: no biases, LayerNorms, embeddings or position embeddings.
* :func:`gpt_param_counts` — exact counts of :class:`~scalinglab.models.gpt.GPT` from its
  config (total, embedding, non-embedding), equal to counting ``model.parameters()``.
* :func:`count_parameters` — the same, counted on a built model (tied weights once).

FLOPs per token (a multiply-add is 2 FLOPs; training = forward + backward = 3 x forward)
---------------------------------------------------------------------------------------
* :func:`flops_per_token_6n` — ``6 N``, the rule of thumb (Kaplan Sec. 2.1).
* :func:`kaplan_flops_per_token` — Kaplan Table 1: ``C_forward = 2 N + 2 n_layer n_ctx
  d_attn`` (the second term is attention over the context), training 3x that.
* :func:`chinchilla_flops_per_token` — Hoffmann et al. 2022, Appendix F, op by op:
  embeddings, QKV, logits of attention, softmax, attention reductions, output
  projection, MLP and final logits; backward = 2 x forward.

``n_ctx`` in the attention terms is the full context, as the papers write it. With a
causal mask a fused kernel may skip about half of that work; the papers' counts do not
take this into account and neither do these functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


# -- parameters ---------------------------------------------------------------------

def kaplan_params(n_layer: int, d_model: int, d_attn: int | None = None,
                  d_ff: int | None = None) -> int:
    """Kaplan et al. 2020, Eq. 2.1: non-embedding parameters of the weight matrices,
    ``2 d_model n_layer (2 d_attn + d_ff)``; with ``d_attn = d_model`` and ``d_ff =
    4 d_model`` (the defaults) this is ``12 n_layer d_model^2``."""
    _positive_int("n_layer", n_layer)
    _positive_int("d_model", d_model)
    d_attn = d_model if d_attn is None else _positive_int("d_attn", d_attn)
    d_ff = 4 * d_model if d_ff is None else _positive_int("d_ff", d_ff)
    return 2 * d_model * n_layer * (2 * d_attn + d_ff)


@dataclass(frozen=True)
class ParamCounts:
    """Exact parameter counts of a GPT.

    ``embedding`` holds the token embedding, the position embedding (learned positions)
    and the output matrix when it is not tied; ``non_embedding = total - embedding``
    (biases and LayerNorms included, unlike :func:`kaplan_params`)."""

    total: int
    embedding: int
    non_embedding: int
    kaplan: int

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "embedding": self.embedding,
                "non_embedding": self.non_embedding, "kaplan": self.kaplan}


def _shape(config: Any) -> dict[str, Any]:
    """Read a GPTConfig, or a mapping with the same keys."""
    get = config.get if isinstance(config, Mapping) else lambda k, d=None: getattr(config, k, d)
    d_model = _positive_int("d_model", get("d_model"))
    d_ff = get("d_ff") or 4 * d_model
    return {
        "n_layer": _positive_int("n_layer", get("n_layer")),
        "d_model": d_model,
        "n_head": _positive_int("n_head", get("n_head", 1)),
        "d_ff": _positive_int("d_ff", d_ff),
        "context": _positive_int("context", get("context")),
        "vocab_size": _positive_int("vocab_size", get("vocab_size")),
        "positions": get("positions", "learned"),
        "tie_embeddings": bool(get("tie_embeddings", False)),
        "bias": bool(get("bias", True)),
    }


def gpt_param_counts(config: Any) -> ParamCounts:
    """Exact counts of :class:`~scalinglab.models.gpt.GPT` for a config (a GPTConfig or a
    dict with its keys), without building the model."""
    s = _shape(config)
    d, f, b = s["d_model"], s["d_ff"], int(s["bias"])
    layer_norm = d * (1 + b)
    attention = d * 3 * d + b * 3 * d + d * d + b * d
    mlp = d * f + b * f + f * d + b * d
    per_layer = 2 * layer_norm + attention + mlp
    token_embedding = s["vocab_size"] * d
    position_embedding = s["context"] * d if s["positions"] == "learned" else 0
    output = 0 if s["tie_embeddings"] else s["vocab_size"] * d
    total = token_embedding + position_embedding + s["n_layer"] * per_layer + layer_norm + output
    embedding = token_embedding + position_embedding + output
    return ParamCounts(total=total, embedding=embedding, non_embedding=total - embedding,
                       kaplan=kaplan_params(s["n_layer"], d, d, f))


def count_parameters(model) -> ParamCounts:
    """Counts on a built model: every parameter once (tied weights are one tensor), and
    the embedding parameters the model names in ``embedding_parameters()``."""
    params = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in params.values())
    embedding_params = {id(p): p for p in model.embedding_parameters()}
    embedding = sum(p.numel() for p in embedding_params.values())
    config = model.config
    return ParamCounts(total=total, embedding=embedding, non_embedding=total - embedding,
                       kaplan=kaplan_params(config.n_layer, config.d_model, config.d_model, config.d_ff))


# -- FLOPs ----------------------------------------------------------------------------

def flops_per_token_6n(n_params: float) -> float:
    """Training FLOPs per token by the rule of thumb ``C = 6 N`` (Kaplan Sec. 2.1)."""
    if not n_params > 0:
        raise ValueError(f"n_params={n_params!r} must be positive")
    return 6.0 * float(n_params)


def kaplan_flops_per_token(n_layer: int, d_model: int, n_ctx: int, d_attn: int | None = None,
                           d_ff: int | None = None, *, n_vocab: int | None = None,
                           training: bool = True) -> float:
    """Kaplan et al. 2020, Table 1: ``C_forward = 2 N + 2 n_layer n_ctx d_attn`` with N from
    Eq. 2.1. With ``n_vocab`` the embedding (4 d_model) and de-embedding (2 d_model
    n_vocab) rows of Table 1 are added, which the paper leaves out of C. Training is
    3 x forward (the backward pass costs twice the forward)."""
    d_attn = d_model if d_attn is None else d_attn
    n = kaplan_params(n_layer, d_model, d_attn, d_ff)
    forward = 2 * n + 2 * n_layer * _positive_int("n_ctx", n_ctx) * d_attn
    if n_vocab is not None:
        forward += 4 * d_model + 2 * d_model * _positive_int("n_vocab", n_vocab)
    return float(3 * forward if training else forward)


@dataclass(frozen=True)
class ChinchillaFlops:
    """Forward FLOPs per *sequence* by the terms of Hoffmann et al. 2022, Appendix F."""

    embeddings: float
    attention_qkv: float
    attention_logits: float
    attention_softmax: float
    attention_reduction: float
    attention_projection: float
    dense: float
    final_logits: float
    n_layer: int
    seq_len: int

    @property
    def per_layer(self) -> float:
        return (self.attention_qkv + self.attention_logits + self.attention_softmax
                + self.attention_reduction + self.attention_projection + self.dense)

    def forward(self, include_embeddings: bool = True) -> float:
        body = self.n_layer * self.per_layer
        return body + (self.embeddings + self.final_logits if include_embeddings else 0.0)

    def training_per_token(self, include_embeddings: bool = True) -> float:
        return 3.0 * self.forward(include_embeddings) / self.seq_len


def chinchilla_flops(n_layer: int, d_model: int, n_head: int, seq_len: int, vocab_size: int,
                     d_ff: int | None = None, key_size: int | None = None) -> ChinchillaFlops:
    """The op-by-op forward count of Hoffmann et al. 2022, Appendix F, for one sequence."""
    _positive_int("n_layer", n_layer)
    _positive_int("d_model", d_model)
    _positive_int("n_head", n_head)
    _positive_int("seq_len", seq_len)
    _positive_int("vocab_size", vocab_size)
    d_ff = 4 * d_model if d_ff is None else _positive_int("d_ff", d_ff)
    key_size = d_model // n_head if key_size is None else _positive_int("key_size", key_size)
    attn_width = key_size * n_head
    t = seq_len
    return ChinchillaFlops(
        embeddings=2.0 * t * vocab_size * d_model,
        attention_qkv=2.0 * 3 * t * d_model * attn_width,
        attention_logits=2.0 * t * t * attn_width,
        attention_softmax=3.0 * n_head * t * t,
        attention_reduction=2.0 * t * t * attn_width,
        attention_projection=2.0 * t * attn_width * d_model,
        dense=2.0 * t * (d_model * d_ff + d_model * d_ff),
        final_logits=2.0 * t * d_model * vocab_size,
        n_layer=n_layer, seq_len=seq_len,
    )


def chinchilla_flops_per_token(n_layer: int, d_model: int, n_head: int, seq_len: int,
                               vocab_size: int, d_ff: int | None = None,
                               key_size: int | None = None, *,
                               include_embeddings: bool = True) -> float:
    """Training FLOPs per token (3 x forward) by Hoffmann et al. 2022, Appendix F.

    ``include_embeddings=False`` drops the embedding and final-logit terms; Table A4's
    published ratios to 6ND are reproduced that way (see tests/test_counting.py)."""
    return chinchilla_flops(n_layer, d_model, n_head, seq_len, vocab_size, d_ff,
                            key_size).training_per_token(include_embeddings)


def model_flops_per_token(n_layer: int, d_model: int, n_head: int, seq_len: int,
                          vocab_size: int, d_ff: int | None = None) -> float:
    """Training FLOPs per token that a GPT's kernels actually perform: Appendix F's terms
    less the input embedding (a table lookup, not a matrix product). The numerator of
    model FLOP utilisation (MFU)."""
    f = chinchilla_flops(n_layer, d_model, n_head, seq_len, vocab_size, d_ff)
    return 3.0 * (f.forward(include_embeddings=False) + f.final_logits) / seq_len


def gpt_flops_per_token(config: Any) -> dict[str, float]:
    """Training FLOPs per token of a GPT config under four conventions:
    ``6N`` (N = Kaplan non-embedding), ``kaplan`` (Table 1, with the attention term),
    ``chinchilla`` (Appendix F, embeddings and logits included) and ``model`` (what the
    kernels compute: Appendix F without the embedding lookup)."""
    s = _shape(config)
    counts = gpt_param_counts(config)
    args = (s["n_layer"], s["d_model"], s["n_head"], s["context"], s["vocab_size"], s["d_ff"])
    return {
        "6N": flops_per_token_6n(counts.kaplan),
        "kaplan": kaplan_flops_per_token(s["n_layer"], s["d_model"], s["context"], s["d_model"], s["d_ff"]),
        "chinchilla": chinchilla_flops_per_token(*args),
        "model": model_flops_per_token(*args),
    }


def attention_fraction(n_layer: int, d_model: int, n_ctx: int) -> float:
    """Share of Kaplan's forward FLOPs spent on attention over the context,
    ``n_ctx / (12 d_model + n_ctx)`` for the standard shape; small when
    ``d_model > n_ctx / 12`` (Kaplan Sec. 2.1)."""
    total = kaplan_flops_per_token(n_layer, d_model, n_ctx, training=False)
    return 2 * n_layer * n_ctx * d_model / total


__all__ = [
    "ParamCounts", "ChinchillaFlops", "kaplan_params", "gpt_param_counts", "count_parameters",
    "flops_per_token_6n", "kaplan_flops_per_token", "chinchilla_flops", "chinchilla_flops_per_token",
    "gpt_flops_per_token", "model_flops_per_token", "attention_fraction",
]
