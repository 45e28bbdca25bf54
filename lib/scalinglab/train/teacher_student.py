"""Deep teacher–student runs (the 4/d law of Bahri et al. 2021, Fig. 1b).

:func:`teacher_student_mlp_run` is one run of the experiment: a random tanh MLP teacher
labels inputs uniform on a d-dimensional cube (:func:`scalinglab.data.teacher_student.intrinsic_inputs`)
and a ReLU MLP student is trained on them to near-interpolation. It is usable as the
``fn`` of :func:`scalinglab.sweep.run_sweep`; torch loads on the first call.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalinglab.data.teacher_student import _check_count, intrinsic_inputs

TEACHER_STUDENT_DEFAULTS: dict[str, Any] = {
    "d": 2,                  # intrinsic (= input) dimension of the data
    "n_train": 256,          # training-set size D
    "n_test": 4096,          # fresh test points
    "teacher_width": 32,
    "teacher_depth": 2,
    "teacher_gain": 1.0,     # teacher weights N(0, gain^2 / fan_in): larger gains, rougher teachers
    "student_width": 64,
    "student_depth": 2,
    "adam_steps": 2000,      # full-batch Adam steps, then L-BFGS to near-interpolation
    "lbfgs_steps": 500,
    "lr": 3e-3,
    "seed": 0,               # data and student initialisation
    "teacher_seed": 0,       # the teacher network (shared across runs of one d)
    "device": "cpu",
    "dtype": "float64",
}


def _teacher_student_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - set(TEACHER_STUDENT_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown teacher-student config keys: {', '.join(unknown)}")
    cfg = {**TEACHER_STUDENT_DEFAULTS, **config}
    for key in ("d", "n_train", "n_test", "teacher_width", "teacher_depth", "student_width",
                "student_depth"):
        _check_count(key, cfg[key])
    for key in ("adam_steps", "lbfgs_steps", "seed", "teacher_seed"):
        _check_count(key, cfg[key], minimum=0)
    if not (isinstance(cfg["teacher_gain"], (int, float)) and cfg["teacher_gain"] > 0):
        raise ValueError(f"teacher_gain={cfg['teacher_gain']!r} must be a positive number")
    if cfg["dtype"] not in ("float32", "float64"):
        raise ValueError(f"dtype={cfg['dtype']!r} is not 'float32' or 'float64'")
    return cfg


def teacher_student_mlp_run(config: dict[str, Any]) -> dict[str, Any]:
    """Train a ReLU MLP student on ``n_train`` points labelled by a random tanh MLP
    teacher on inputs uniform in [-1, 1]^d; return the test MSE (a sweep record).

    The teacher is smooth, the student piecewise linear, so in the resolution-limited
    regime (n_train << student parameters) the test loss should fall as D^-(4/d)
    (Bahri et al. 2021, Sec. 2.2). Loss is 1/2 mean squared error, reported also
    relative to the teacher's output variance."""
    import torch

    from scalinglab.models.mlp import MLP, MLPConfig

    cfg = _teacher_student_config(config)
    dtype = getattr(torch, cfg["dtype"])
    device = torch.device(cfg["device"])

    gen = torch.Generator().manual_seed(10_000 + cfg["teacher_seed"])
    teacher = MLP(MLPConfig(d_in=cfg["d"], width=cfg["teacher_width"], depth=cfg["teacher_depth"],
                            activation="tanh", init="fan_in"))
    with torch.no_grad():
        for p in teacher.parameters():  # weights N(0, gain^2/fan_in), biases N(0, 1): a varied function
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * cfg["teacher_gain"] / math.sqrt(p.shape[1]))
            else:
                p.copy_(torch.randn(p.shape, generator=gen))
    teacher = teacher.to(device=device, dtype=dtype)

    rng = np.random.default_rng([cfg["seed"], cfg["d"], cfg["n_train"]])
    x_train = torch.as_tensor(intrinsic_inputs(cfg["n_train"], cfg["d"], rng), dtype=dtype, device=device)
    x_test = torch.as_tensor(intrinsic_inputs(cfg["n_test"], cfg["d"], rng), dtype=dtype, device=device)
    with torch.no_grad():
        y_train, y_test = teacher(x_train), teacher(x_test)
    scale = float(y_test.var())

    torch.manual_seed(cfg["seed"])
    student = MLP(MLPConfig(d_in=cfg["d"], width=cfg["student_width"], depth=cfg["student_depth"],
                            activation="relu", init="fan_in")).to(device=device, dtype=dtype)

    def train_loss() -> torch.Tensor:
        return 0.5 * torch.mean((student(x_train) - y_train) ** 2)

    curve_step, curve_loss = [], []
    opt = torch.optim.Adam(student.parameters(), lr=cfg["lr"])
    for step in range(cfg["adam_steps"]):
        # cosine decay: Adam's noise floor, not the data, would otherwise set the loss
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * step / max(1, cfg["adam_steps"])))
        opt.zero_grad(set_to_none=True)
        loss = train_loss()
        loss.backward()
        opt.step()
        if step % max(1, cfg["adam_steps"] // 10) == 0:
            curve_step.append(step)
            curve_loss.append(float(loss.detach()))
    if cfg["lbfgs_steps"]:
        lbfgs = torch.optim.LBFGS(student.parameters(), lr=1.0, max_iter=cfg["lbfgs_steps"],
                                  history_size=50, tolerance_grad=1e-12, tolerance_change=1e-15,
                                  line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad(set_to_none=True)
            value = train_loss()
            value.backward()
            return value

        lbfgs.step(closure)
    with torch.no_grad():
        final_train = float(train_loss())
        test = float(0.5 * torch.mean((student(x_test) - y_test) ** 2))
    curve_step.append(cfg["adam_steps"] + cfg["lbfgs_steps"])
    curve_loss.append(final_train)
    n_params = sum(p.numel() for p in student.parameters())
    return {
        "metrics": {"test_loss": test, "train_loss": final_train,
                    "relative_test_loss": test / (0.5 * scale), "student_params": n_params},
        "curve": {"step": curve_step, "loss": curve_loss},
    }


__all__ = ["TEACHER_STUDENT_DEFAULTS", "teacher_student_mlp_run"]
