"""``scalinglab golden-check`` (``make golden-check``): do the stored ci outputs survive
other floating-point rounding?

A number in a stored output that moves when only the rounding changes makes nbval pass
on one machine and fail on the next. This developer tool finds such numbers on one
machine: it re-executes each notebook at its defaults (the ci profile), as ``make
golden`` does, under perturbed floating-point conditions, and compares every code cell's
text outputs (after the sanitizer regexes nbval uses) and every claim, by value, with
what is stored. Variants:

* ``threads``: two threads for torch, OpenMP, MKL and OpenBLAS (reduction order);
* ``kernels``: another CPU's code paths: OpenBLAS's Haswell kernels for numpy/scipy and
  AVX2 instead of AVX-512 for MKL (the machine must support them; the tool checks with
  threadpoolctl that OpenBLAS's core type did change). torch's own kernels are pinned to
  AVX2 at the ci profile on every machine (``configure_torch``), so they do not change;
* ``perturb``: ``SCALINGLAB_PERTURB=1e-9``, a relative perturbation of every fit's
  targets (:mod:`scalinglab.base.perturb`);
* ``weights`` (not in the default set): ``SCALINGLAB_PERTURB_WEIGHTS=1e-9`` on the
  initial weights of trained models. A short training run is chaotic in its last digits,
  so this shows how far training-derived digits would move if the ci profile did not pin
  the arithmetic; it is expected to report differences in the training notebooks;
* ``baseline`` (not in the default set): no change, which tells a stale stored output
  from an unstable one.

These settings exist only in the environments of the kernels this tool starts, never in
tests or CI. Each variant gets an empty run cache, so training runs are redone under it.
Executed notebooks are kept under ``build/golden-check/<variant>/`` for inspection.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from scalinglab.base import paths
from scalinglab.base.profiles import ParameterError, check_int
from scalinglab.repro import stability

THREADS_ENV = {"SCALINGLAB_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
               "OPENBLAS_NUM_THREADS": "2"}
# Core types tried in order for OpenBLAS: the first one that differs from this machine's
# default is used.
OPENBLAS_CORES = ("Haswell", "Sandybridge")
PERTURB_EPS = "1e-9"
# A cell that runs longer fails, as under nbval (--nbval-cell-timeout in the Makefile): a
# loop whose exit test depends on the last bits may never end under other rounding.
CELL_TIMEOUT_S = 600
VARIANTS = ("threads", "kernels", "perturb", "weights", "baseline")
DEFAULT_VARIANTS = ("threads", "kernels", "perturb")

_PROBE = """\
import json, numpy, threadpoolctl
try:
    import scipy.linalg
except ImportError:
    pass
try:
    import torch
    cap = torch.backends.cpu.get_cpu_capability()
except ImportError:
    cap = None
cores = sorted({str(i.get("architecture")) for i in threadpoolctl.threadpool_info()
                if i.get("internal_api") == "openblas"})
print(json.dumps({"openblas": cores, "torch": cap}))
"""


def probe_kernels(env: dict[str, str]) -> dict[str, Any]:
    """OpenBLAS's core type(s) (threadpoolctl) and torch's CPU capability in a fresh
    Python with ``env``."""
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"probing the CPU kernels failed: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def kernels_env() -> tuple[dict[str, str], str]:
    """The environment of the ``kernels`` variant and a line saying what it changes."""
    default = probe_kernels({})
    env = {"OPENBLAS_CORETYPE": OPENBLAS_CORES[0]}
    got = probe_kernels(env)
    # this machine's default already is the first choice: try the next one
    for key, choices, part in (("OPENBLAS_CORETYPE", OPENBLAS_CORES, "openblas"),):
        for choice in choices[1:]:
            if got[part] != default[part]:
                break
            trial = probe_kernels({**env, key: choice})
            if trial[part] != default[part]:
                env[key], got = choice, trial
    env["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"
    changes = []
    if got["openblas"] != default["openblas"]:
        changes.append(f"OpenBLAS core {'/'.join(default['openblas'])} -> {'/'.join(got['openblas'])}")
    else:
        changes.append(f"OpenBLAS core {'/'.join(default['openblas']) or 'none'} UNCHANGED")
    changes.append("MKL limited to AVX2")
    if default["torch"] is not None:
        changes.append("torch's own kernels: pinned to AVX2 at ci on every machine")
    return env, "; ".join(changes) + " (checked with threadpoolctl and torch)"


def variant_envs(variants: Sequence[str]) -> dict[str, tuple[dict[str, str], str]]:
    """``{variant: (environment, description)}``."""
    out = {}
    for v in variants:
        if v == "threads":
            out[v] = (dict(THREADS_ENV), "two threads for torch, OpenMP, MKL and OpenBLAS (reduction order)")
        elif v == "kernels":
            out[v] = kernels_env()
        elif v == "perturb":
            out[v] = ({"SCALINGLAB_PERTURB": PERTURB_EPS}, "fit targets x (1 + 1e-9 z)")
        elif v == "weights":
            out[v] = ({"SCALINGLAB_PERTURB_WEIGHTS": PERTURB_EPS}, "initial weights of trained models x (1 + 1e-9 z)")
        elif v == "baseline":
            out[v] = ({}, "no change: the stored outputs as this machine makes them")
    return out


@dataclass
class CheckJob:
    variant: str
    paper: str
    notebook: Path
    output: Path
    export: Path
    env: dict[str, str]
    sanitize_file: Path


@dataclass
class CheckResult:
    variant: str
    paper: str
    ok: bool = True
    failure: dict[str, Any] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    stored_claims: bool = False
    wall_time_s: float = 0.0
    # code cells whose outputs differ from the baseline run's (when one ran)
    vs_baseline: list[int] | None = None

    @property
    def differs(self) -> bool:
        return not self.ok or bool(self.cells) or bool(self.claims)


def check_one(job: CheckJob) -> CheckResult:
    """Worker process: execute one notebook under one variant and compare."""
    from scalinglab.repro.runner import _execute, run_notebook
    started = time.perf_counter()
    # execute the very notebook that is compared with, even if it is saved meanwhile
    text = job.notebook.read_text()
    stored_nb = json.loads(text)
    snapshot = job.output.with_name(f".{job.paper}.stored.ipynb")
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_text(text)
    try:
        ok, _, failure = run_notebook(snapshot, job.output, None, job.notebook.parent, job.env,
                                      execute=partial(_execute, execution_timeout=CELL_TIMEOUT_S))
    finally:
        snapshot.unlink(missing_ok=True)
    result = CheckResult(job.variant, job.paper, ok=ok, failure=failure)
    stored = stability.stored_claims(stored_nb)
    result.stored_claims = stored is not None
    if ok:
        got_nb = json.loads(job.output.read_text())
        result.cells = stability.compare_cells(stored_nb, got_nb, stability.load_sanitizers(job.sanitize_file))
        claims_file = job.export / "claims" / f"{job.paper}.json"
        if stored is not None:
            try:
                computed = stability.claims_record(json.loads(claims_file.read_text())["claims"])
            except (OSError, ValueError, KeyError):
                result.claims = ["the run wrote no claims file"]
            else:
                result.claims = stability.compare_claims(stored, computed)
    result.wall_time_s = round(time.perf_counter() - started, 1)
    return result


def _excerpt(a: str, b: str, width: int = 150) -> tuple[str, str]:
    """The two lines, cut to ``width`` around their first difference."""
    if len(a) <= width and len(b) <= width:
        return a, b
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, i - width // 3)
    cut = lambda s: ("…" if start else "") + s[start:start + width] + ("…" if len(s) > start + width else "")  # noqa: E731
    return cut(a), cut(b)


def describe(result: CheckResult) -> list[str]:
    """The report lines of one notebook under one variant (after its name). A cell whose
    output equals the baseline run's is marked: its stored output is stale, whatever
    the rounding."""
    if not result.ok:
        f = result.failure
        where = f"cell {f['cell']}: {f.get('source', '')}" if f.get("cell") is not None else ""
        return [line for line in (where, f.get("error", "")) if line]
    lines = []
    for d in result.cells:
        if d["cell"] is None:
            lines.append(f"cell count differs: stored {d['stored']}, got {d['got']}")
            continue
        at = f", line {d['line']}" if d["line"] else ""
        stale = (" (as in baseline: stale, not unstable)"
                 if result.vs_baseline is not None and d["cell"] not in result.vs_baseline else "")
        stored, got = _excerpt(d["stored"], d["got"])
        lines += [f"cell {d['cell']} ({d['kind']}{at}){stale}:", f"  stored: {stored}", f"  got:    {got}"]
    if result.claims:
        lines.append("claims:")
        lines += [f"  {p}" for p in result.claims]
    return lines


def report(results: dict[tuple[str, str], CheckResult], variants: Sequence[str],
           papers: Sequence[str], stream) -> list[CheckResult]:
    """Print OK or the differences per variant and notebook; return the differing runs."""
    width = max(len(p) for p in papers)
    differing = []
    for v in variants:
        print(f"\n== {v}", file=stream)
        for paper in papers:
            res = results[(v, paper)]
            if not res.differs:
                print(f"  {paper:{width}s}  OK", file=stream)
                continue
            differing.append(res)
            what = "FAILED" if not res.ok else ", ".join(
                part for part in (f"{len(res.cells)} cell(s) differ" if res.cells else "",
                                  "claims differ" if res.claims else "") if part)
            print(f"  {paper:{width}s}  {what}", file=stream)
            for line in describe(res):
                print(f"      {line}", file=stream)
    return differing


def golden_check(papers: Sequence[str] | None = None, variants: Sequence[str] | None = None,
                 jobs: int = 2, progress: bool = True, root: Path | None = None,
                 notebooks: Path | None = None, stream=None) -> int:
    """Re-execute the notebooks under each variant and report how their outputs and
    claims differ from the stored ones. Returns 1 when anything differs, else 0."""
    from scalinglab.base.progress import progress_bar
    from scalinglab.repro.runner import CI_THREAD_ENV, KERNEL_ENV, discover
    stream = stream or sys.stdout
    started = time.perf_counter()
    root = Path(root) if root else paths.project_root()
    variants = list(variants or DEFAULT_VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ParameterError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    jobs = check_int("jobs", jobs, minimum=1)
    nbs = discover(papers, notebooks or root / "notebooks")
    if not nbs:
        raise ParameterError("no notebooks to check")
    sanitize_file = root / "tests" / "nbval_sanitize.cfg"
    envs = variant_envs(variants)
    print(f"golden-check: {len(nbs)} notebook(s) x {len(variants)} variant(s), {jobs} at a time, "
          "against the stored ci outputs", file=stream)
    for v in variants:
        env, what = envs[v]
        settings = " ".join(f"{k}={val}" for k, val in env.items()) or "(defaults)"
        print(f"  {v:8s} {settings}\n           {what}", file=stream)
    stream.flush()

    out_root = root / "build" / "golden-check"
    results: dict[tuple[str, str], CheckResult] = {}
    with tempfile.TemporaryDirectory(prefix="scalinglab-golden-check-") as tmp:
        todo = []
        for v in variants:
            for nb in nbs:
                export = out_root / v
                output = export / nb.name
                output.unlink(missing_ok=True)
                (export / "claims" / f"{nb.stem}.json").unlink(missing_ok=True)
                env = {**KERNEL_ENV, **CI_THREAD_ENV, "SCALINGLAB_ROOT": str(root),
                       # a fresh run cache per variant: training is redone under it
                       "SCALINGLAB_CACHE": str(Path(tmp) / v / "cache"),
                       stability.CHECK_ENV: "0", stability.EXPORT_ENV: str(export),
                       **envs[v][0]}
                todo.append(CheckJob(v, nb.stem, nb, output, export, env, sanitize_file))
        bar = progress_bar(total=len(todo), desc="golden-check", unit="run", enabled=progress,
                           file=sys.stderr)
        # Notebooks write figures to their default out_dir, so one paper never runs
        # under two variants at once.
        with cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            running: dict[cf.Future, CheckJob] = {}
            while todo or running:
                busy = {j.paper for j in running.values()}
                while todo and len(running) < jobs:
                    pick = next((j for j in todo if j.paper not in busy), None)
                    if pick is None:
                        break
                    todo.remove(pick)
                    busy.add(pick.paper)
                    running[pool.submit(check_one, pick)] = pick
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    job = running.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # the worker process itself died
                        res = CheckResult(job.variant, job.paper, ok=False,
                                          failure={"error": f"{type(exc).__name__}: {exc}", "cell": None})
                    results[(job.variant, job.paper)] = res
                    bar.set_postfix_str(f"{job.variant}/{job.paper}: {'DIFFERS' if res.differs else 'OK'}")
                    bar.update(1)
        bar.close()

    if "baseline" in variants:
        sanitizers = stability.load_sanitizers(sanitize_file)
        for (v, paper), res in results.items():
            base = results[("baseline", paper)]
            if v != "baseline" and res.ok and base.ok:
                base_nb, nb = (json.loads((out_root / w / f"{paper}.ipynb").read_text()) for w in ("baseline", v))
                res.vs_baseline = [d["cell"] for d in stability.compare_cells(base_nb, nb, sanitizers)]
    differing = report(results, variants, [nb.stem for nb in nbs], stream)
    no_claims = sorted({r.paper for r in results.values() if not r.stored_claims})
    wall = time.perf_counter() - started
    print("", file=stream)
    if no_claims:
        print(f"no stored claims to compare (make golden stores them): {', '.join(no_claims)}", file=stream)
    print(f"executed notebooks: {paths.display_path(out_root)}/<variant>/", file=stream)
    if differing:
        papers_d = sorted({r.paper for r in differing})
        print(f"golden-check: {len(differing)} of {len(results)} runs differ from the stored outputs "
              f"({', '.join(papers_d)}) · {wall:.0f} s. A stored output must not move when only "
              "the rounding changes" + ("" if "baseline" in variants else
                                        "; add the baseline variant to mark stale ones") + ".",
              file=stream)
        return 1
    print(f"golden-check: all {len(results)} runs match the stored outputs · {wall:.0f} s", file=stream)
    return 0
