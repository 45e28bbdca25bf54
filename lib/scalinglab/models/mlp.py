"""A multilayer perceptron for non-sequence tasks (regression, classification).

    model = MLP(MLPConfig(d_in=784, width=256, depth=2, d_out=10))
    logits = model(x)                              # x: (batch, d_in)

``depth`` counts hidden layers. Initialisation follows GPT-2's convention (weights from
N(0, 0.02), biases zero) unless ``init="fan_in"``, which draws weights from
N(0, 1/fan_in) so that the activations keep their scale at any width (the usual choice
for width-scaling studies of MLPs).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}
INITS = ("gpt2", "fan_in")


@dataclass(frozen=True)
class MLPConfig:
    d_in: int
    width: int = 128
    depth: int = 2
    d_out: int = 1
    activation: str = "gelu"
    bias: bool = True
    init: str = "gpt2"

    def __post_init__(self):
        for name in ("d_in", "width", "d_out"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MLPConfig.{name}={value!r} must be a positive integer")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0:
            raise ValueError(f"MLPConfig.depth={self.depth!r} must be a non-negative integer")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"MLPConfig.activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"MLPConfig.init={self.init!r} is not one of {', '.join(INITS)}")

    def to_dict(self) -> dict:
        return asdict(self)


class MLP(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        widths = [config.d_in] + [config.width] * config.depth + [config.d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=config.bias) for a, b in zip(widths, widths[1:]))
        self.activation = ACTIVATIONS[config.activation]()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for layer in self.layers:
            std = 0.02 if self.config.init == "gpt2" else 1.0 / math.sqrt(layer.in_features)
            nn.init.normal_(layer.weight, mean=0.0, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

    def loss(self, x: torch.Tensor, y: torch.Tensor, task: str = "regression") -> torch.Tensor:
        """Mean squared error (regression) or cross-entropy in nats (classification)."""
        out = self(x)
        if task == "regression":
            return F.mse_loss(out.squeeze(-1) if out.shape[-1] == 1 and y.dim() == 1 else out, y)
        if task == "classification":
            return F.cross_entropy(out, y)
        raise ValueError(f"task={task!r} is not 'regression' or 'classification'")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = ["MLP", "MLPConfig", "ACTIVATIONS"]
