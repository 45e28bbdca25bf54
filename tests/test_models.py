"""GPT and MLP: shapes, causality, positions, tying, GPT-2 initialisation, bad configs."""
import math

import pytest
import torch

from scalinglab.models import GPT, GPTConfig, MLP, MLPConfig


def tiny(**kw):
    base = dict(n_layer=2, d_model=32, n_head=4, context=16, vocab_size=50)
    base.update(kw)
    return GPT(GPTConfig(**base))


def test_forward_shapes_and_loss_at_init_is_near_uniform():
    torch.manual_seed(0)
    model = tiny()
    x = torch.randint(0, 50, (3, 16))
    logits, loss = model(x, x)
    assert logits.shape == (3, 16, 50)
    # small initial weights: the prediction is close to uniform over the vocabulary
    assert abs(loss.item() - math.log(50)) < 0.05
    per_position = model(x, x, reduction="none")[1]
    assert per_position.shape == (3, 16)
    assert torch.allclose(per_position.mean(), loss)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_attention_is_causal(positions):
    torch.manual_seed(0)
    model = tiny(positions=positions).eval()
    x = torch.randint(0, 50, (2, 16))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 50  # change the future only
    a, _ = model(x)
    b, _ = model(y)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_rotary_has_no_position_parameters_and_depends_on_order():
    torch.manual_seed(0)
    model = tiny(positions="rotary").eval()
    assert model.position_embedding is None
    names = [n for n, _ in model.named_parameters()]
    assert not any("position" in n for n in names)
    # With no position information the last logits of a permuted prefix would be equal
    # (attention is permutation-invariant); rotary positions break that.
    x = torch.tensor([[1, 2, 3, 4, 5]])
    y = torch.tensor([[4, 2, 3, 1, 5]])
    assert not torch.allclose(model(x)[0][:, -1], model(y)[0][:, -1])


def test_rotary_rotation_is_relative():
    from scalinglab.models.gpt import apply_rotary, rotary_tables
    cos, sin = rotary_tables(32, 8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    # <R(m) q, R(n) k> depends on m - n only
    def score(m, n):
        return (apply_rotary(q, cos[m:m + 1], sin[m:m + 1]) * apply_rotary(k, cos[n:n + 1], sin[n:n + 1])).sum()
    assert torch.allclose(score(5, 2), score(13, 10), atol=1e-5)
    assert not torch.allclose(score(5, 2), score(5, 4), atol=1e-3)


def test_tied_embeddings_share_one_tensor():
    model = tiny(tie_embeddings=True)
    assert model.lm_head.weight is model.token_embedding.weight
    untied = tiny()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in untied.parameters()) - 50 * 32


def test_gpt2_initialisation():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=8, d_model=256, n_head=4, context=64, vocab_size=256))
    block = model.blocks[0]
    assert abs(block.attn.qkv.weight.std().item() - 0.02) < 0.001
    assert abs(block.mlp.fc.weight.std().item() - 0.02) < 0.001
    residual = 0.02 / math.sqrt(2 * 8)
    assert abs(block.attn.proj.weight.std().item() - residual) < 0.0005
    assert abs(block.mlp.proj.weight.std().item() - residual) < 0.0005
    assert abs(model.token_embedding.weight.std().item() - 0.02) < 0.002
    assert torch.count_nonzero(block.attn.qkv.bias) == 0
    assert torch.all(block.ln_attn.weight == 1)


def test_no_bias_variant_has_no_biases():
    model = tiny(bias=False)
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())


def test_sequence_longer_than_context_is_refused():
    with pytest.raises(ValueError, match="longer than the context"):
        tiny()(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("kw, match", [
    (dict(d_model=30, n_head=4), "not divisible"),
    (dict(n_layer=0), "positive integer"),
    (dict(positions="alibi"), "positions"),
    (dict(d_model=12, n_head=4, positions="rotary"), "even head size"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_gpt_configs_are_refused(kw, match):
    base = dict(n_layer=2, d_model=32, n_head=4, context=16, vocab_size=50)
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        GPTConfig(**base)


def test_config_round_trip_and_unknown_keys():
    config = GPTConfig(n_layer=3, d_model=48, n_head=3, context=8, vocab_size=10)
    assert GPTConfig.from_dict(config.to_dict()) == config
    assert config.d_ff == 192
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig.from_dict({"n_embd": 3})


def test_generate_extends_the_sequence():
    torch.manual_seed(0)
    model = tiny().eval()
    out = model.generate(torch.zeros(2, 1, dtype=torch.long), 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 6)


def test_mlp_shapes_losses_and_init():
    torch.manual_seed(0)
    model = MLP(MLPConfig(d_in=10, width=64, depth=2, d_out=3))
    x = torch.randn(5, 10)
    assert model(x).shape == (5, 3)
    assert model.num_parameters() == 10 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3
    assert model.loss(x, torch.tensor([0, 1, 2, 0, 1]), task="classification").item() == pytest.approx(math.log(3), abs=0.05)
    reg = MLP(MLPConfig(d_in=10, width=4096, depth=1, d_out=1, init="fan_in"))
    assert abs(reg.layers[0].weight.std().item() - 1 / math.sqrt(10)) < 0.01
    assert reg.loss(x, torch.zeros(5)).dim() == 0
    linear = MLP(MLPConfig(d_in=4, depth=0, d_out=2))
    assert len(linear.layers) == 1
    with pytest.raises(ValueError, match="task"):
        model.loss(x, x, task="ranking")
    with pytest.raises(ValueError, match="activation"):
        MLPConfig(d_in=3, activation="swish")
