"""The session object a paper notebook works through.

    run = scalinglab.start("kaplan2020_neural_lm", profile=profile, device=device,
                           seed=seed, executor=executor, workers=workers, out_dir=out_dir)
    grid = run.pick({"ci": {...}, "cpu": {...}, "gpu": {...}})
    ...
    run.savefig(fig, "loss_vs_params")
    run.claim("alpha_N", "...", paper_value=0.076, paper_source="Eq. 1.1", ours=..., criterion=within(rel=0.3))
    run.finish()   # writes out_dir/claims/<paper>.json and shows the scorecard
"""
from __future__ import annotations

import importlib
import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from scalinglab.base import paths
from scalinglab.base.plotting import save_figure, use_style
from scalinglab.base.profiles import (
    EXECUTORS, PROFILES, ParameterError, check_choice, check_int, env_number, pick, resolve_device,
)
from scalinglab.base.provenance import library_files_used, now_iso, stable_provenance
from scalinglab.repro import stability
from scalinglab.repro.claims import Claim, Criterion, Scorecard

PAPER_ID = re.compile(r"^[a-z]+[0-9]{4}_[a-z0-9_]+$")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    import numpy as np
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


THREADS_ENV = "SCALINGLAB_THREADS"


def ci_threads() -> int:
    """Threads at the ci profile: 1. ``SCALINGLAB_THREADS=n`` overrides it for
    perturbation checks only (``scalinglab golden-check``); stored outputs are made at 1."""
    return env_number(THREADS_ENV, int, default=1, minimum=1)


def limit_native_threads(n: int):
    """Pin the BLAS and OpenMP thread pools of this process to ``n`` threads, whatever
    OMP_NUM_THREADS and friends say (a JupyterLab kernel inherits the user's shell).
    Returns threadpoolctl's limiter; keep it (``restore_original_limits()`` undoes it).
    A library loaded after the call keeps its own default, so the pools the suite uses
    (numpy's and scipy's OpenBLAS, torch's OpenMP) are loaded first."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    for module in ("numpy", "scipy.linalg", "torch"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    return threadpool_limits(limits=n)


def configure_torch(profile: str, device: str) -> None:
    """Threads, determinism and denormals as the profile needs them."""
    try:
        import torch
    except ImportError:
        return
    if device == "cpu":
        # Denormal floats made a 4.7M-parameter GPT 30x slower on a 2-core machine.
        torch.set_flush_denormal(True)
    if profile == "ci":
        # torch picks its vector kernels by CPU (AVX-512 on one machine, AVX2 on the next),
        # and another vector width sums in another order; a short training run amplifies
        # that difference into the third digit of its loss. One width for every x86-64 CPU.
        os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
        capability = torch.backends.cpu.get_cpu_capability()  # fixed from here on
        if os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and capability == "AVX512":
            import warnings
            warnings.warn("torch chose its CPU kernels before scalinglab.start(); restart the kernel "
                          "to get the ci profile's stored numbers", stacklevel=3)
        # One thread and deterministic kernels: the stored outputs must be identical on
        # every machine, and the reduction order of a matmul depends on the thread count.
        torch.set_num_threads(ci_threads())
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


class PaperRun:
    """Validated parameters, output folders, figures and claims of one notebook run."""

    def __init__(self, paper: str, *, profile: str, device: str, seed: int, executor: str,
                 workers: int, out_dir: str | os.PathLike, title: str = "", citation: str = ""):
        if not PAPER_ID.match(paper):
            raise ParameterError(f"paper id {paper!r} must look like 'kaplan2020_neural_lm'")
        self.paper = paper
        self.profile = check_choice("profile", profile, PROFILES)
        self.executor = check_choice("executor", executor, EXECUTORS)
        if device == "cuda" and self.executor != "local":
            # The sweep's runs execute on cluster nodes, whose GPUs the machine that
            # drives the notebook (a login or head node) need not have.
            self.device = device
        else:
            self.device = resolve_device(device)
        self.seed = check_int("seed", seed, minimum=0)
        self.workers = check_int("workers", workers, minimum=1)
        if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
            raise ParameterError(f"out_dir={out_dir!r} must be a folder path")
        self.out_dir = paths.resolve(out_dir)
        self.figure_dir = self.out_dir / "figures" / paper
        self.cache_dir = paths.cache_dir()
        self.scorecard = Scorecard(paper, self.profile, title=title, citation=citation)
        self.started = time.perf_counter()
        self.started_at = now_iso()
        self.figures: list[str] = []
        seed_everything(self.seed)
        configure_torch(self.profile, self.device)
        # The limiter stays on the session: BLAS/OpenMP keep the ci thread count for the
        # whole run, and run.thread_limits.restore_original_limits() undoes it.
        self.thread_limits = limit_native_threads(ci_threads()) if self.profile == "ci" else None
        use_style()

    # -- parameters ---------------------------------------------------------------
    def pick(self, per_profile: dict[str, Any]) -> Any:
        """This profile's entry of a ``{"ci": ..., "cpu": ..., "gpu": ...}`` dict."""
        return pick(self.profile, per_profile)

    @property
    def progress(self) -> bool:
        """Whether to show progress bars: not at the ci profile (stored outputs stay
        clean) nor when SCALINGLAB_PROGRESS=0."""
        return self.profile != "ci" and os.environ.get("SCALINGLAB_PROGRESS", "1") != "0"

    def tqdm(self, iterable=None, **kwargs):
        from scalinglab.base.progress import progress_bar
        enabled = self.progress and not kwargs.pop("disable", False)
        return progress_bar(iterable, enabled=enabled, **kwargs)

    # -- outputs --------------------------------------------------------------------
    def savefig(self, fig, name: str) -> None:
        """Save as PNG and SVG under ``out_dir/figures/<paper>/``."""
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            raise ParameterError(f"figure name {name!r} may use letters, digits, _ . - only")
        save_figure(fig, self.out_dir, self.paper, name)
        self.figures.append(name)

    def claim(self, id: str, statement: str, *, paper_value: float | None, paper_source: str,
              ours: float | None, criterion: Criterion,
              ours_interval: Sequence[float] | None = None,
              paper_interval: Sequence[float] | None = None, min_profile: str = "ci",
              kind: str = "rerun", unit: str = "", note: str = "",
              tags: Sequence[str] = (), alternative: Any = None, departure: str = "",
              untestable: str = "") -> Claim:
        """Add a claim to this paper's scorecard (see :meth:`Scorecard.add`)."""
        return self.scorecard.add(
            id, statement, paper_value=paper_value, paper_source=paper_source, ours=ours,
            criterion=criterion, ours_interval=ours_interval, paper_interval=paper_interval,
            min_profile=min_profile, kind=kind, unit=unit, note=note, tags=tags,
            alternative=alternative, departure=departure, untestable=untestable)

    def provenance(self) -> dict[str, Any]:
        return stable_provenance(device=self.device, seed=self.seed, profile=self.profile)

    def finish(self) -> Scorecard:
        """Write the claims file (stable content) and the run sidecar (timing), and
        return the scorecard so the cell displays it.

        With ``SCALINGLAB_CLAIMS_EXPORT=folder`` the claims file is also written under
        that folder. At the ci profile with ``SCALINGLAB_CHECK_STORED_CLAIMS=1`` (set under
        pytest) an AssertionError lists every way the claims differ from those stored in
        ``notebooks/<paper>.ipynb`` (see :mod:`scalinglab.repro.stability`)."""
        wall = time.perf_counter() - self.started
        prov = self.provenance()
        self.scorecard.save(self.out_dir, provenance=prov)
        sidecar = self.out_dir / "claims" / f"{self.paper}.run.json"
        sidecar.write_text(json.dumps({
            "paper": self.paper, "profile": self.profile, "device": self.device,
            "started_at": self.started_at, "finished_at": now_iso(),
            "wall_time_s": round(wall, 2), "figures": self.figures, "provenance": prov,
            # what a record of this run depends on (scalinglab.repro.record)
            "library_files": library_files_used(),
        }, indent=2, sort_keys=True) + "\n")
        if os.environ.get(stability.EXPORT_ENV):
            # a copy for the tool that started this kernel (make golden, golden-check)
            self.scorecard.save(os.environ[stability.EXPORT_ENV], provenance=prov)
        if self.profile == "ci" and os.environ.get(stability.CHECK_ENV) == "1":
            # under pytest: the claims must equal, by value, those make golden stored
            stability.check_stored_claims(self.paper, self.scorecard.to_dict()["claims"])
        return self.scorecard

    def __repr__(self) -> str:
        return (f"{self.paper} · profile {self.profile} · device {self.device} · seed "
                f"{self.seed} · executor {self.executor} × {self.workers}")


def start(paper: str, *, profile: str = "ci", device: str = "auto", seed: int = 0,
          executor: str = "local", workers: int = 1, out_dir: str | os.PathLike = "build/lab",
          title: str = "", citation: str = "", params: Mapping[str, Any] | None = None) -> PaperRun:
    """Validate a notebook's parameters, seed everything, apply the plot style.

    The values of every parameter that ``notebooks/<paper>.ipynb`` declares are checked
    against its declarations, read from ``params`` or else from the caller's globals (the
    notebook's namespace), so ``bootstrap = -3`` fails here, naming ``bootstrap``."""
    from scalinglab.repro.parameters import check_paper_namespace
    check_paper_namespace(paper, sys._getframe(1).f_globals if params is None else params)
    return PaperRun(paper, profile=profile, device=device, seed=seed, executor=executor,
                    workers=workers, out_dir=out_dir, title=title, citation=citation)
