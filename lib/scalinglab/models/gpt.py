"""A GPT decoder, written to be read.

    config = GPTConfig(n_layer=4, d_model=128, n_head=4, context=256, vocab_size=256)
    model = GPT(config)
    logits, loss = model(tokens, targets)        # tokens: (batch, time) int64

The architecture is GPT-2's (Radford et al. 2019) with the choices the scaling-law
papers vary made explicit:

* pre-LayerNorm residual blocks: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``;
* causal multi-head attention through ``torch.nn.functional.scaled_dot_product_attention``
  (a fused kernel on every backend);
* a GELU MLP of width ``d_ff`` (GPT-2: ``4 * d_model``);
* learned absolute positions (GPT-2) or rotary positions (no position parameters);
* optionally tied input and output embeddings (GPT-2 ties them).

Initialisation is GPT-2's: every weight matrix from N(0, 0.02), biases zero, and the two
projections that write into the residual stream scaled by 1/sqrt(2 * n_layer), so the
residual stream's variance does not grow with depth.

Parametrisation. ``parametrization="sp"`` (the default) is the standard one above.
``"mup"`` is the Maximal Update Parametrization for Adam (Yang et al. 2022, Tensor
Programs V, Table 3), relative to a base width ``mup_base_width`` (the d_model the
hyperparameters were tuned at; None: this model's own, width multiplier 1). With the
width multiplier ``m = d_model / mup_base_width``:

* hidden weight matrices (attention qkv and output projection, both MLP matrices): init
  std GPT-2's divided by sqrt(m), i.e. proportional to 1/sqrt(fan_in), equal to sp's at
  the base width; Adam learning rate divided by m (:meth:`GPT.lr_scales`, applied by the
  trainer's parameter groups);
* the output (unembedding) layer: GPT-2's init, and its logits multiplied by 1/m (the
  ``mup`` package's MuReadout; not a zero-initialised readout), base learning rate;
* attention scores scaled by 1/d_head instead of 1/sqrt(d_head);
* embeddings, biases and LayerNorm gains: unchanged, base learning rate.

Tied embeddings are refused under muP (the input and output layers scale differently).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

POSITIONS = ("learned", "rotary")
PARAMETRIZATIONS = ("sp", "mup")


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT. ``d_ff`` defaults to ``4 * d_model``; ``d_model`` must divide
    evenly into ``n_head`` heads (Kaplan's d_attn = d_model)."""

    n_layer: int = 4
    d_model: int = 128
    n_head: int = 4
    d_ff: int | None = None
    context: int = 256
    vocab_size: int = 256
    positions: str = "learned"
    tie_embeddings: bool = False
    bias: bool = True
    dropout: float = 0.0
    rotary_base: float = 10000.0
    parametrization: str = "sp"
    mup_base_width: int | None = None

    def __post_init__(self):
        for name in ("n_layer", "d_model", "n_head", "context", "vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name}={value!r} must be a positive integer")
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        if isinstance(self.d_ff, bool) or not isinstance(self.d_ff, int) or self.d_ff < 1:
            raise ValueError(f"GPTConfig.d_ff={self.d_ff!r} must be a positive integer")
        if self.d_model % self.n_head:
            raise ValueError(f"GPTConfig: d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.positions not in POSITIONS:
            raise ValueError(f"GPTConfig.positions={self.positions!r} is not one of {', '.join(POSITIONS)}")
        if self.positions == "rotary" and (self.d_model // self.n_head) % 2:
            raise ValueError(f"GPTConfig: rotary positions need an even head size, got {self.d_model // self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout={self.dropout!r} must be in [0, 1)")
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"GPTConfig.parametrization={self.parametrization!r} is not one of "
                             f"{', '.join(PARAMETRIZATIONS)}")
        base = self.mup_base_width
        if base is not None and (isinstance(base, bool) or not isinstance(base, int) or base < 1):
            raise ValueError(f"GPTConfig.mup_base_width={base!r} must be a positive integer or None")
        if self.parametrization == "mup" and self.tie_embeddings:
            raise ValueError("GPTConfig: muP with tied embeddings is not supported (the input and output "
                             "layers scale differently)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def width_mult(self) -> float:
        """muP's width multiplier d_model / mup_base_width (1 under sp or without a base)."""
        if self.parametrization != "mup" or self.mup_base_width is None:
            return 1.0
        return self.d_model / self.mup_base_width

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"kind"})
        if unknown:
            raise ValueError(f"GPTConfig does not know the key(s) {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})


def rotary_tables(context: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles, shape (context, head_dim // 2)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(context, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (even, odd) pair of features of q or k by its position's angle.
    x: (batch, head, time, head_dim); cos, sin: (time, head_dim // 2)."""
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.head_dim = config.n_head, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.proj.residual_projection = True  # gets GPT-2's depth-scaled initialisation
        self.qkv.hidden_matrix = self.proj.hidden_matrix = True  # muP: init and LR scale with width
        self.dropout = config.dropout
        # muP scales the scores by 1/d_head; None keeps the kernel's default 1/sqrt(d_head)
        self.scale = 1.0 / self.head_dim if config.parametrization == "mup" else None

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        batch, time, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=2)
        # (batch, time, d_model) -> (batch, head, time, head_dim)
        q, k, v = (t.view(batch, time, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if rotary is not None:
            cos, sin = rotary
            q, k = apply_rotary(q, cos[:time], sin[:time]), apply_rotary(k, cos[:time], sin[:time])
        if self.scale is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(batch, time, d_model)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.proj = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.proj.residual_projection = True
        self.fc.hidden_matrix = self.proj.hidden_matrix = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GPT-2's GELU is the tanh approximation.
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_mlp = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, rotary=None) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln_attn(x), rotary))
        x = x + self.dropout(self.mlp(self.ln_mlp(x)))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positions == "learned":
            self.position_embedding = nn.Embedding(config.context, config.d_model)
        else:
            self.position_embedding = None
            cos, sin = rotary_tables(config.context, config.head_dim, config.rotary_base)
            # buffers, not parameters: they move with .to(device) but are never trained
            self.register_buffer("rotary_cos", cos, persistent=False)
            self.register_buffer("rotary_sin", sin, persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_final = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.token_embedding.weight
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 initialisation, hidden matrices narrowed by 1/sqrt(width multiplier) under
        muP (see the module docstring)."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        mup = self.config.parametrization == "mup"
        for module in self.modules():
            if isinstance(module, nn.Linear):
                std = residual_std if getattr(module, "residual_projection", False) else 0.02
                if mup and getattr(module, "hidden_matrix", False):
                    std = std / math.sqrt(self.config.width_mult)
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def lr_scales(self) -> dict[int, float]:
        """muP's learning-rate multipliers, ``{id(parameter): scale}``: 1/width_mult for the
        hidden weight matrices; empty under sp (every parameter at the base rate)."""
        if self.config.parametrization != "mup":
            return {}
        scale = 1.0 / self.config.width_mult
        return {id(m.weight): scale for m in self.modules()
                if isinstance(m, nn.Linear) and getattr(m, "hidden_matrix", False)}

    def embedding_parameters(self) -> list[nn.Parameter]:
        """The parameters Kaplan et al. leave out of N: token and position embeddings,
        and the output matrix when it is not tied to the token embedding."""
        params = [self.token_embedding.weight]
        if self.position_embedding is not None:
            params.append(self.position_embedding.weight)
        if not self.config.tie_embeddings:
            params.append(self.lm_head.weight)
        return params

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None,
                reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of shape (batch, time, vocab) and, with targets, the cross-entropy in
        nats per token (mean over all positions, or per position with reduction='none')."""
        batch, time = tokens.shape
        if time > self.config.context:
            raise ValueError(f"sequence of length {time} is longer than the context {self.config.context}")
        x = self.token_embedding(tokens)
        rotary = None
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(time, device=tokens.device))
        else:
            rotary = (self.rotary_cos, self.rotary_sin)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, rotary)
        logits = self.lm_head(self.ln_final(x))
        if self.config.parametrization == "mup":
            logits = logits * (1.0 / self.config.width_mult)  # muP's readout multiplier
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1),
                               reduction=reduction)
        if reduction == "none":
            loss = loss.view(batch, time)
        return logits, loss

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``new_tokens`` continuations (for looking at what a model learned)."""
        for _ in range(new_tokens):
            logits, _ = self(tokens[:, -self.config.context:])
            probs = F.softmax(logits[:, -1, :].float() / max(temperature, 1e-6), dim=-1)
            tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=generator)], dim=1)
        return tokens


__all__ = ["GPT", "GPTConfig", "PARAMETRIZATIONS", "POSITIONS", "apply_rotary", "rotary_tables"]
