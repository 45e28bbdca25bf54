"""Execute paper notebooks with papermill, skip unchanged ones, and write the scorecard.

``reproduce`` runs each notebook of ``notebooks/`` at a profile into
``build/notebooks/<profile>/``, in parallel processes, with one progress bar over
notebooks. A notebook is skipped when the hash of its inputs (its cell sources, the
library source, the injected parameters, the data files, requirements.txt) matches the
stamp of its last successful run. A kernel that dies before its first cell ran (a known
port race of parallel kernel launches) is retried; a real failure is reported in a few
lines and the other notebooks still finish.

``golden`` re-executes notebooks in place at the ``ci`` profile: the stored outputs that
nbval checks.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from scalinglab.repro import paths
from scalinglab.repro.profiles import (
    BUDGET_S, EXECUTORS, PROFILES, ParameterError, check_choice, check_int, default_profile,
)
from scalinglab.repro.provenance import library_hash, now_iso

# Environment every notebook kernel starts with. One BLAS/OpenMP thread at the ci
# profile so stored outputs are bit-stable; no progress bars in captured output.
CI_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
# OMP_WAIT_POLICY=PASSIVE: spinning OpenMP threads made training 10x slower on a busy machine.
KERNEL_ENV = {"PYTHONHASHSEED": "0", "SCALINGLAB_PROGRESS": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
              "OMP_WAIT_POLICY": "PASSIVE"}
MAX_KERNEL_RETRIES = 2


def notebooks_dir() -> Path:
    return paths.project_root() / "notebooks"


def discover(papers: Sequence[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The paper notebooks to run; unknown names are an error that lists the known ones."""
    folder = folder or notebooks_dir()
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    if not papers:
        return found
    by_name = {p.stem: p for p in found}
    missing = [name for name in papers if name.removesuffix(".ipynb") not in by_name]
    if missing:
        raise ParameterError(
            f"unknown paper(s) {', '.join(missing)}; known: {', '.join(sorted(by_name)) or 'none'}")
    return [by_name[name.removesuffix(".ipynb")] for name in papers]


def notebook_source_hash(path: Path) -> str:
    """Hash of what the notebook *does*: cell types, sources and tags; stored outputs and
    execution counts are left out so refreshing outputs does not force a rerun."""
    nb = json.loads(Path(path).read_text())
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        h.update(cell.get("cell_type", "").encode())
        src = cell.get("source", "")
        h.update(("".join(src) if isinstance(src, list) else src).encode())
        h.update(json.dumps(sorted(cell.get("metadata", {}).get("tags", []))).encode())
    return h.hexdigest()


def data_hash(root: Path | None = None) -> str:
    """Hash of the data files notebooks read: everything under data/ except the catalogue
    (remote files are pinned by sha256 in data/remote.yaml, so that file stands for them)."""
    root = root or paths.project_root()
    h = hashlib.sha256()
    data = root / "data"
    if data.is_dir():
        for p in sorted(data.rglob("*")):
            if p.is_file() and p.name != "papers.yaml":
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def input_hash(notebook: Path, parameters: dict[str, Any], root: Path | None = None) -> str:
    root = root or paths.project_root()
    h = hashlib.sha256()
    h.update(notebook_source_hash(notebook).encode())
    h.update(library_hash().encode())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    h.update(data_hash(root).encode())
    req = root / "requirements.txt"
    if req.exists():
        h.update(req.read_bytes())
    return h.hexdigest()


@dataclass
class Outcome:
    """What happened to one notebook."""

    paper: str
    status: str  # ok | failed | cached
    wall_time_s: float = 0.0
    profile: str = ""
    device: str = ""
    notebook: str = ""
    claims_file: str = ""
    error: str = ""
    failing_cell: int | None = None
    failing_source: str = ""
    attempts: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    title: str = ""
    citation: str = ""
    date: str = ""

    def describe_failure(self) -> str:
        lines = [f"FAILED {self.paper}"]
        if self.failing_cell is not None:
            lines.append(f"  cell {self.failing_cell}: {self.failing_source}")
        lines.append(f"  {self.error}")
        lines.append(f"  executed notebook: {self.notebook}")
        return "\n".join(lines)


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:100]
    return source.strip().splitlines()[0][:100] if source.strip() else ""


def _short_error(ename: str, evalue: str) -> str:
    evalue = re.sub(r"\x1b\[[0-9;]*m", "", str(evalue)).strip()
    last = evalue.splitlines()[-1] if evalue else ""
    return f"{ename}: {last}" if last else ename


def _kernel_never_ran(output_path: Path) -> bool:
    """True when no code cell got an execution count: the kernel died or never started."""
    try:
        nb = json.loads(output_path.read_text())
    except (OSError, ValueError):
        return True
    # papermill's own injected cells do not count as user code having run
    return not any(c.get("cell_type") == "code" and c.get("execution_count")
                   for c in nb.get("cells", []))


def strip_run_metadata(nb: dict[str, Any]) -> dict[str, Any]:
    """Drop papermill's timing metadata (it changes every run) from a notebook."""
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        md = cell.get("metadata", {})
        md.pop("papermill", None)
        md.pop("execution", None)
    return nb


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null while kernels start: ipykernel prints a
    warning per launch that would bury the progress bar. Errors are reported from the
    exceptions papermill raises, not from this stream."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _execute(input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
             cwd: Path, env: dict[str, str], start_timeout: int = 120,
             execution_timeout: int | None = None) -> None:
    import papermill as pm
    os.environ.update(env)  # inherited by the kernel process papermill starts
    kwargs: dict[str, Any] = {}
    if execution_timeout:
        kwargs["execution_timeout"] = execution_timeout
    with _quiet_stderr():
        pm.execute_notebook(
            str(input_path), str(output_path), parameters=parameters or None,
            kernel_name="python3", progress_bar=False, log_output=False,
            start_timeout=start_timeout, cwd=str(cwd), **kwargs)


def run_notebook(input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
                 cwd: Path, env: dict[str, str], retries: int = MAX_KERNEL_RETRIES,
                 execute: Callable[..., None] = _execute) -> tuple[bool, int, dict[str, Any]]:
    """Execute one notebook; retry when the kernel died before its first cell ran.

    Returns (ok, attempts, failure) where failure has error / cell / source."""
    from papermill.exceptions import PapermillExecutionError
    output_path.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        attempt += 1
        try:
            execute(input_path, output_path, parameters, cwd, env)
            return True, attempt, {}
        except PapermillExecutionError as exc:
            return False, attempt, {"error": _short_error(exc.ename, exc.evalue),
                                    "cell": exc.cell_index, "source": _first_line(exc.source)}
        except Exception as exc:  # kernel start failures, dead kernels, timeouts
            if attempt <= retries and _kernel_never_ran(output_path):
                time.sleep(0.5 * attempt)
                continue
            return False, attempt, {"error": _short_error(type(exc).__name__, str(exc)),
                                    "cell": None, "source": ""}


@dataclass
class Job:
    paper: str
    input_path: Path
    output_path: Path
    profile: str
    parameters: dict[str, Any]
    env: dict[str, str]
    out_dir: Path
    root: Path


def _run_job(job: Job) -> Outcome:
    """Worker process: execute, then attach provenance and read the claims."""
    started = time.perf_counter()
    ok, attempts, failure = run_notebook(job.input_path, job.output_path, job.parameters,
                                         job.input_path.parent, job.env)
    wall = time.perf_counter() - started
    rel = lambda p: os.path.relpath(p, job.root)  # noqa: E731
    claims_file = job.out_dir / "claims" / f"{job.paper}.json"
    outcome = Outcome(paper=job.paper, status="ok" if ok else "failed", wall_time_s=round(wall, 1),
                      profile=job.profile, notebook=rel(job.output_path), attempts=attempts,
                      claims_file=rel(claims_file) if claims_file.exists() else "",
                      date=now_iso()[:10])
    if not ok:
        outcome.error, outcome.failing_cell, outcome.failing_source = (
            failure["error"], failure["cell"], failure["source"])
    sidecar = job.out_dir / "claims" / f"{job.paper}.run.json"
    run_info = json.loads(sidecar.read_text()) if ok and sidecar.exists() else {}
    outcome.device = run_info.get("device", "")
    if ok and not claims_file.exists():
        outcome.status, outcome.error = "failed", "the notebook did not call run.finish(): no claims file"
    if job.output_path.exists():
        _annotate_output(job.output_path, job, run_info, wall)
    return outcome


def _annotate_output(output_path: Path, job: Job, run_info: dict[str, Any], wall: float) -> None:
    """Put the provenance of the run into the executed notebook's metadata."""
    nb = json.loads(output_path.read_text())
    meta = dict(run_info) if run_info else {"paper": job.paper, "profile": job.profile}
    meta["wall_time_s"] = round(wall, 2)
    meta["input_hash"] = input_hash(job.input_path, job.parameters, job.root)
    nb.setdefault("metadata", {})["scalinglab"] = meta
    output_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _stamp_path(output_dir: Path, paper: str) -> Path:
    return output_dir / f".{paper}.stamp.json"


def _read_claims(outcome: Outcome, root: Path) -> None:
    if not outcome.claims_file:
        return
    try:
        claims = json.loads((root / outcome.claims_file).read_text())
    except (OSError, ValueError):
        return
    outcome.counts = claims.get("counts", {})
    outcome.title = claims.get("title", "")
    outcome.citation = claims.get("citation", "")


def reproduce(papers: Sequence[str] | None = None, profile: str | None = None,
              jobs: int | None = None, force: bool = False, executor: str = "local",
              workers: int = 1, device: str = "auto", progress: bool = True,
              root: Path | None = None, notebooks: Path | None = None,
              stream=None) -> list[Outcome]:
    """Run notebooks at a profile; print a summary; write build/scorecard.{json,md}."""
    stream = stream or sys.stdout
    root = Path(root) if root else paths.project_root()
    profile = check_choice("profile", profile or default_profile(), PROFILES)
    check_choice("executor", executor, EXECUTORS)
    workers = check_int("workers", workers, minimum=1)
    nbs = discover(papers, notebooks or root / "notebooks")
    if not nbs:
        raise ParameterError("no notebooks to run")
    jobs = check_int("jobs", jobs if jobs is not None else
                     ((os.cpu_count() or 1) if profile == "ci" else 1), minimum=1)
    build = root / "build"
    output_dir = build / "notebooks" / profile
    out_dir = build / profile
    output_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(KERNEL_ENV, SCALINGLAB_ROOT=str(root))
    if profile == "ci":
        env.update(CI_THREAD_ENV)

    outcomes: dict[str, Outcome] = {}
    todo: list[tuple[Job, str]] = []
    for nb in nbs:
        paper = nb.stem
        # out_dir is injected relative to the project root so no executed notebook names
        # a folder of this machine.
        parameters = {"profile": profile, "device": device, "out_dir": f"build/{profile}",
                      "executor": executor, "workers": workers}
        job = Job(paper, nb, output_dir / nb.name, profile, parameters, env, out_dir, root)
        digest = input_hash(nb, parameters, root)
        stamp = _stamp_path(output_dir, paper)
        if not force and stamp.exists() and job.output_path.exists():
            saved = json.loads(stamp.read_text())
            if saved.get("input_hash") == digest and saved.get("outcome", {}).get("status") == "ok":
                cached = Outcome(**{**saved["outcome"], "status": "cached"})
                outcomes[paper] = cached
                continue
        stamp.unlink(missing_ok=True)
        todo.append((job, digest))

    if todo:
        from scalinglab.repro.progress import progress_bar
        bar = progress_bar(total=len(todo), desc=f"notebooks ({profile})", unit="nb",
                           enabled=progress, file=sys.stderr)
        pool_size = min(jobs, len(todo))
        with cf.ProcessPoolExecutor(max_workers=pool_size) as pool:
            futures = {pool.submit(_run_job, job): (job, digest) for job, digest in todo}
            for fut in cf.as_completed(futures):
                job, digest = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # the worker process itself died
                    outcome = Outcome(paper=job.paper, status="failed", profile=profile,
                                      error=_short_error(type(exc).__name__, str(exc)))
                outcomes[job.paper] = outcome
                if outcome.status == "ok":
                    _stamp_path(output_dir, job.paper).write_text(json.dumps(
                        {"input_hash": digest, "outcome": asdict(outcome)}, indent=1))
                bar.set_postfix_str(f"{job.paper}: {outcome.status}")
                bar.update(1)
        bar.close()

    ordered = [outcomes[nb.stem] for nb in nbs]
    for o in ordered:
        _read_claims(o, root)
    for o in ordered:
        if o.status == "failed":
            print(o.describe_failure(), file=stream)
    print(summary_table(ordered), file=stream)
    # The scorecard covers every notebook with a result at this profile, not only the
    # ones selected with PAPERS=: the others keep the outcome of their last good run.
    everything = list(ordered)
    selected = {nb.stem for nb in nbs}
    for nb in discover(None, notebooks or root / "notebooks"):
        stamp = _stamp_path(output_dir, nb.stem)
        if nb.stem not in selected and stamp.exists():
            previous = Outcome(**{**json.loads(stamp.read_text())["outcome"], "status": "cached"})
            _read_claims(previous, root)
            everything.append(previous)
    everything.sort(key=lambda o: o.paper)
    write_scorecard(everything, profile, build)
    for o in ordered:
        if o.status == "ok" and o.wall_time_s > BUDGET_S[profile]:
            print(f"note: {o.paper} took {o.wall_time_s:.0f} s, over the {profile} budget of "
                  f"{BUDGET_S[profile]} s", file=stream)
    return ordered


def summary_table(outcomes: Iterable[Outcome]) -> str:
    rows = [("paper", "claims", "status", "wall time", "profile", "device")]
    for o in outcomes:
        c = o.counts
        claims = f"{c.get('reproduced', 0)}/{c.get('judged', 0)}" if c else "—"
        if c.get("indicative"):
            claims += f" (+{c['indicative']} ind.)"
        wall = f"{o.wall_time_s:.1f} s" + (" (cached)" if o.status == "cached" else "")
        rows.append((o.paper, claims, o.status, wall, o.profile, o.device or "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(rows[0]), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


def write_scorecard(outcomes: Sequence[Outcome], profile: str, build: Path) -> dict[str, Any]:
    papers = []
    for o in outcomes:
        c = o.counts or {}
        papers.append({
            "paper": o.paper, "title": o.title, "citation": o.citation, "profile": o.profile,
            "device": o.device, "status": o.status, "claims_total": c.get("total", 0),
            "claims_judged": c.get("judged", 0), "claims_reproduced": c.get("reproduced", 0),
            "claims_indicative": c.get("indicative", 0), "wall_time_s": o.wall_time_s,
            "date": o.date, "notebook": o.notebook, "claims_file": o.claims_file,
            "error": o.error,
        })
    totals = {
        "papers": len(papers),
        "claims_total": sum(p["claims_total"] for p in papers),
        "claims_judged": sum(p["claims_judged"] for p in papers),
        "claims_reproduced": sum(p["claims_reproduced"] for p in papers),
        "claims_indicative": sum(p["claims_indicative"] for p in papers),
        "failed": sum(p["status"] == "failed" for p in papers),
    }
    card = {"profile": profile, "generated_at": now_iso(), "totals": totals, "papers": papers}
    build.mkdir(parents=True, exist_ok=True)
    text = json.dumps(card, indent=2) + "\n"
    (build / "scorecard.json").write_text(text)  # the latest run, whatever its profile
    (build / profile).mkdir(parents=True, exist_ok=True)
    (build / profile / "scorecard.json").write_text(text)
    md = [f"# scalinglab scorecard ({profile} profile)", "",
          f"{totals['claims_reproduced']}/{totals['claims_judged']} judged claims reproduced "
          f"across {totals['papers']} papers ({totals['claims_indicative']} indicative, "
          f"{totals['failed']} notebooks failed).", "",
          "| paper | reproduced / judged | indicative | status | wall time (s) | device |",
          "|---|---|---|---|---|---|"]
    for p in papers:
        md.append(f"| {p['paper']} | {p['claims_reproduced']}/{p['claims_judged']} | "
                  f"{p['claims_indicative']} | {p['status']} | {p['wall_time_s']:.1f} | "
                  f"{p['device'] or '—'} |")
    (build / "scorecard.md").write_text("\n".join(md) + "\n")
    return card


def golden(papers: Sequence[str] | None = None, root: Path | None = None,
           notebooks: Path | None = None, stream=None) -> int:
    """Re-execute notebooks in place at their defaults (the ci profile): the stored
    outputs nbval checks. A failing notebook is left untouched. Returns the failures."""
    stream = stream or sys.stdout
    root = Path(root) if root else paths.project_root()
    nbs = discover(papers, notebooks or root / "notebooks")
    env = {**KERNEL_ENV, **CI_THREAD_ENV, "SCALINGLAB_ROOT": str(root)}
    failures = 0
    for nb in nbs:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / nb.name
            ok, _, failure = run_notebook(nb, out, None, nb.parent, env)
            if ok:
                data = strip_run_metadata(json.loads(out.read_text()))
                nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        wall = time.perf_counter() - started
        if ok:
            print(f"golden {nb.stem}: stored outputs refreshed ({wall:.1f} s)", file=stream)
        else:
            failures += 1
            print(f"golden {nb.stem}: FAILED, notebook left as it was\n"
                  f"  cell {failure['cell']}: {failure['source']}\n  {failure['error']}", file=stream)
    return failures
