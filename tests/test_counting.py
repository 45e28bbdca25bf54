"""Parameter and FLOP counts against worked numbers from the papers."""
import math

import pytest
import torch

from scalinglab.models import GPT, GPTConfig
from scalinglab.models.counting import (
    attention_fraction, chinchilla_flops, chinchilla_flops_per_token, count_parameters,
    flops_per_token_6n, gpt_flops_per_token, gpt_param_counts, kaplan_flops_per_token, kaplan_params,
)

GPT2_SMALL = dict(n_layer=12, d_model=768, n_head=12, context=1024, vocab_size=50257, tie_embeddings=True)


def test_gpt2_small_counts():
    counts = gpt_param_counts(GPT2_SMALL)
    # GPT-2 small has 124,439,808 parameters (Radford et al. 2019; the released checkpoint)
    assert counts.total == 124_439_808
    # Kaplan et al. 2020, Eq. 2.1: 12 n_layer d_model^2 = 84.9M for 12 x 768
    assert counts.kaplan == 12 * 12 * 768**2 == 84_934_656
    # exact non-embedding count: total less token (50257 x 768) and position (1024 x 768)
    # embeddings; biases and LayerNorms are the 121,344 over Kaplan's formula
    assert counts.embedding == 50257 * 768 + 1024 * 768
    assert counts.non_embedding == 85_056_000
    # per layer 9 d_model biases and two LayerNorms (4 d_model), plus the final LayerNorm
    assert counts.non_embedding - counts.kaplan == 12 * 13 * 768 + 2 * 768 == 121_344


def test_gpt2_small_matches_the_transformers_implementation():
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):  # no memory, no download: shapes only
        peer = transformers.GPT2LMHeadModel(transformers.GPT2Config())
        ours = GPT(GPTConfig(**GPT2_SMALL))
    assert sum(p.numel() for p in peer.parameters()) == count_parameters(ours).total == 124_439_808


@pytest.mark.parametrize("kw", [
    dict(), dict(tie_embeddings=True), dict(positions="rotary"), dict(bias=False),
    dict(d_ff=100, n_head=2), dict(n_layer=5, d_model=96, n_head=3, context=7, vocab_size=11),
])
def test_formula_counts_equal_counting_a_built_model(kw):
    base = dict(n_layer=2, d_model=32, n_head=4, context=16, vocab_size=50)
    base.update(kw)
    config = GPTConfig(**base)
    assert gpt_param_counts(config) == count_parameters(GPT(config))
    assert gpt_param_counts(config.to_dict()) == gpt_param_counts(config)


def test_kaplan_params_general_form():
    # Eq. 2.1 with d_attn != d_model and d_ff != 4 d_model
    assert kaplan_params(3, 100, d_attn=50, d_ff=300) == 2 * 100 * 3 * (2 * 50 + 300)
    with pytest.raises(ValueError):
        kaplan_params(0, 10)


def test_kaplan_forward_flops_equal_the_sum_of_table_1():
    L, d, d_attn, d_ff, n_ctx, V = 6, 512, 256, 1536, 1024, 50257
    # Kaplan et al. 2020, Table 1, per operation (forward, per token)
    qkv = 2 * L * d * 3 * d_attn
    mask = 2 * L * n_ctx * d_attn
    project = 2 * L * d_attn * d
    ffn = 2 * L * 2 * d * d_ff
    embed, de_embed = 4 * d, 2 * d * V
    forward = kaplan_flops_per_token(L, d, n_ctx, d_attn, d_ff, training=False)
    assert forward == qkv + mask + project + ffn
    assert forward == 2 * kaplan_params(L, d, d_attn, d_ff) + 2 * L * n_ctx * d_attn
    assert kaplan_flops_per_token(L, d, n_ctx, d_attn, d_ff, n_vocab=V, training=False) == forward + embed + de_embed
    assert kaplan_flops_per_token(L, d, n_ctx, d_attn, d_ff) == 3 * forward


def test_context_term_is_small_when_d_model_exceeds_n_ctx_over_12():
    # Kaplan Sec. 2.1: the attention term n_ctx / (12 d_model + n_ctx) of the forward count
    assert attention_fraction(4, 1024 // 12 * 1, 1024) == pytest.approx(1024 / (12 * 85 + 1024))
    assert attention_fraction(12, 768, 1024) == pytest.approx(1024 / (12 * 768 + 1024))
    assert attention_fraction(12, 768, 1024) < 0.11
    assert flops_per_token_6n(85e6) == 6 * 85e6


def chinchilla_architecture_params(n_layer, d_model, d_ff, vocab_size=32000):
    """Parameters of a Chinchilla-style block stack (relative position encodings: a
    d_model x d_model projection and two biases per layer; untied output matrix)."""
    attention = 3 * d_model**2 + 3 * d_model + d_model**2 + d_model
    relative_positions = d_model**2 + 2 * d_model
    mlp = 2 * d_model * d_ff + d_ff + d_model
    layer_norms = 4 * d_model
    return n_layer * (attention + relative_positions + mlp + layer_norms) + 2 * d_model + d_model * vocab_size


# Hoffmann et al. 2022, Table A4: (label, n_layer, d_model, d_ff, n_head, key size, ratio
# of the detailed FLOP count to 6ND), sequence length 2048, vocabulary 32,000.
CHINCHILLA_TABLE_A4 = [
    ("73M", 10, 640, 2560, 10, 64, 1.03),
    ("305M", 20, 1024, 4096, 16, 64, 1.10),
    ("552M", 24, 1280, 5120, 10, 128, 1.08),
    ("1.1B", 26, 1792, 7168, 14, 128, 1.04),
    ("1.6B", 28, 2048, 8192, 16, 128, 1.03),
    ("6.8B", 40, 3584, 14336, 28, 128, 0.99),
]


@pytest.mark.parametrize("label, n_layer, d_model, d_ff, n_head, key_size, ratio", CHINCHILLA_TABLE_A4)
def test_chinchilla_table_a4_ratios(label, n_layer, d_model, d_ff, n_head, key_size, ratio):
    n = chinchilla_architecture_params(n_layer, d_model, d_ff)
    scale = 1e9 if label.endswith("B") else 1e6
    assert n / scale == pytest.approx(float(label[:-1]), abs=0.1 if label.endswith("B") else 1.0)
    # The table's ratios come out of the Appendix F count without the embedding and
    # final-logit terms (with them the 73M row would read 1.41).
    detailed = chinchilla_flops_per_token(n_layer, d_model, n_head, 2048, 32000, d_ff, key_size,
                                          include_embeddings=False)
    assert round(detailed / (6 * n), 2) == ratio
    assert key_size * n_head == d_model


def test_chinchilla_terms():
    f = chinchilla_flops(n_layer=2, d_model=8, n_head=2, seq_len=4, vocab_size=10)
    assert f.embeddings == 2 * 4 * 10 * 8 == f.final_logits
    assert f.attention_qkv == 2 * 3 * 4 * 8 * 8
    assert f.attention_softmax == 3 * 2 * 4 * 4
    assert f.dense == 2 * 4 * 2 * 8 * 32
    assert f.forward() == f.embeddings + f.final_logits + 2 * f.per_layer
    assert f.training_per_token() == 3 * f.forward() / 4


def test_gpt_flops_per_token_conventions():
    flops = gpt_flops_per_token(GPT2_SMALL)
    assert flops["6N"] == 6 * 84_934_656
    assert flops["kaplan"] == 3 * (2 * 84_934_656 + 2 * 12 * 1024 * 768)
    # Appendix F per layer and token: QKV 6d^2, attention logits and reductions
    # 2 x 2 n_ctx d, softmax 3 n_head n_ctx, projection 2d^2, MLP 16d^2; embeddings and
    # final logits 2 V d each
    d, n_ctx, V = 768, 1024, 50257
    layer = 6 * d * d + 4 * n_ctx * d + 3 * 12 * n_ctx + 2 * d * d + 16 * d * d
    assert flops["chinchilla"] == pytest.approx(3 * (12 * layer + 4 * V * d))
    assert flops["model"] == pytest.approx(3 * (12 * layer + 2 * V * d))
    assert flops["chinchilla"] / flops["6N"] == pytest.approx(2.13, abs=0.01)
