"""Execute paper notebooks with papermill, skip unchanged ones, and write the scorecard.

``reproduce`` runs each notebook of ``notebooks/`` at a profile, in parallel processes,
with one progress bar over notebooks. Everything that can be checked before a kernel
starts is checked first (profile, device, executor, jobs, the papers named, and every
notebook's declared parameters), so a bad input fails in one line and touches nothing.

A notebook executes into a scratch folder, ``build/.staging/<profile>/``, with its
``out_dir`` pointing there; only when it succeeds are its executed notebook
(``build/notebooks/<profile>/<paper>.ipynb``), claims (``build/<profile>/claims/``),
figures (``build/<profile>/figures/<paper>/``) and stamp moved into place. A failed run
never replaces a good one: its executed notebook goes to
``build/notebooks/<profile>/failed/`` for debugging, and the last good result stays
published and is reported as such.

A notebook is skipped when the hash of its inputs (its cell sources, the library source,
the injected parameters, the files under data/, the bytes of the pinned remote files it
may read through the registry, requirements.txt) matches the stamp of its last
successful run. A kernel that dies before its first cell ran (a known port race of
parallel kernel launches) is retried; a real failure is reported in a few lines that name
the line that failed, and the other notebooks still finish.

``golden`` re-executes notebooks in place at the ``ci`` profile: the stored outputs that
nbval checks, and the run's claims in the notebook's metadata (compared by value under
pytest, see :mod:`scalinglab.repro.stability`). ``scalinglab golden-check``
(:mod:`scalinglab.repro.goldencheck`) tells whether those outputs survive other
floating-point rounding before they are stored.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from scalinglab.base import paths
from scalinglab.base.profiles import (
    BUDGET_S, DEVICES, EXECUTORS, PROFILES, ParameterError, check_choice, check_int,
    default_profile, resolve_device,
)
from scalinglab.base.provenance import file_sha256 as provenance_file_sha256
from scalinglab.base.provenance import library_hash, now_iso
from scalinglab.repro.parameters import notebook_parameters, validate
from scalinglab.sweep.cache import write_atomic

# Environment every notebook kernel starts with. One BLAS/OpenMP thread at the ci
# profile so stored outputs are bit-stable; no progress bars in captured output.
CI_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
}  # OpenBLAS falls back to OMP_NUM_THREADS; OPENBLAS_* variables are the machine's own
# OMP_WAIT_POLICY=PASSIVE: spinning OpenMP threads made training 10x slower on a busy machine.
KERNEL_ENV = {"PYTHONHASHSEED": "0", "SCALINGLAB_PROGRESS": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
              "OMP_WAIT_POLICY": "PASSIVE",
              # the backend ipykernel chooses when none is set: figures stored inline even
              # from a shell that sets MPLBACKEND=Agg
              "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
MAX_KERNEL_RETRIES = 2
# Parameters the runner injects into every notebook; each notebook must declare them.
# out_dir is the run's scratch folder, so users set the others with the runner's options.
RUNNER_PARAMETERS = ("profile", "device", "out_dir", "executor", "workers")


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


_FILE_HASHES: dict[tuple[str, int, int], str] = {}
FILE_HASH_CACHE = ".file-sha256.json"  # under build/: sha256 by (path, size, mtime)


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so an unchanged file is read
    once (see :func:`load_file_hashes` for keeping them across runs)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = provenance_file_sha256(path)
    return _FILE_HASHES[key]


def load_file_hashes(store: Path) -> None:
    """Remember the file hashes a previous run saved with :func:`save_file_hashes`."""
    try:
        for entry in json.loads(store.read_text()):
            _FILE_HASHES.setdefault((str(entry[0]), int(entry[1]), int(entry[2])), str(entry[3]))
    except (OSError, ValueError, TypeError, IndexError):
        pass  # no cache yet, or a damaged one: the hashes are recomputed


def save_file_hashes(store: Path) -> None:
    with contextlib.suppress(OSError):
        write_atomic(store, json.dumps([[*k, v] for k, v in sorted(_FILE_HASHES.items())]))


def remote_files_hash(root: Path | None = None) -> str:
    """Hash of the pinned remote files (data/remote.yaml) as the notebooks would read them
    through the registry: each entry's pinned sha256 and, where a local copy exists
    (mirror, download cache or transcription), that copy's actual sha256. A missing copy
    counts as its pin, so the first download does not change the key; a tampered or
    replaced file does."""
    import yaml
    from scalinglab.data import published
    root = Path(root) if root else paths.project_root()
    h = hashlib.sha256()
    try:
        reg = published.registry(root / "data" / "remote.yaml")
    except (published.PublishedDataError, OSError, ValueError, yaml.YAMLError):
        return h.hexdigest()  # no or unreadable registry: data_hash covers its bytes
    store = root / "build" / FILE_HASH_CACHE
    known = len(_FILE_HASHES)
    if not _FILE_HASHES:
        load_file_hashes(store)
        known = len(_FILE_HASHES)
    for name in sorted(reg):
        rf = reg[name]
        local = published.local_copy(rf, root)
        actual = file_sha256(local) if local is not None else rf.sha256
        h.update(f"{name}\0{rf.sha256}\0{actual}\n".encode())
    if len(_FILE_HASHES) != known and store.parent.is_dir():
        save_file_hashes(store)
    return h.hexdigest()


def shared_inputs_hash(root: Path | None = None) -> str:
    """The inputs every notebook shares: library source, data files, pinned remote files
    and requirements.txt."""
    root = Path(root) if root else paths.project_root()
    h = hashlib.sha256()
    h.update(library_hash().encode())
    h.update(data_hash(root).encode())
    h.update(remote_files_hash(root).encode())
    req = root / "requirements.txt"
    if req.exists():
        h.update(req.read_bytes())
    return h.hexdigest()


def input_hash(notebook: Path, parameters: dict[str, Any], root: Path | None = None,
               shared: str | None = None) -> str:
    """The skip key of one notebook run: its cell sources, its parameters and the shared
    inputs (``shared``, from :func:`shared_inputs_hash`, computed here when not given)."""
    h = hashlib.sha256()
    h.update(notebook_source_hash(notebook).encode())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    h.update((shared or shared_inputs_hash(root)).encode())
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
    failing_source: str = ""  # the line that failed (else the cell's first line)
    attempts: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    title: str = ""
    citation: str = ""
    date: str = ""
    failing_line: int | None = None  # within the failing cell, from 1
    # A failed notebook's last good result, which stays published: its date, counts,
    # executed notebook, claims file, wall time and device.
    last_good: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **changes: Any) -> "Outcome":
        """An outcome from its stored form (a stamp or failure record); unknown keys are
        ignored, so records written by other versions still load."""
        names = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in names}, **changes})

    @property
    def status_text(self) -> str:
        """The status as the summary shows it."""
        if self.status == "failed" and self.last_good:
            return f"failed (last good result from {self.last_good.get('date') or 'an earlier run'} kept)"
        return self.status

    def describe_failure(self) -> str:
        lines = [f"FAILED {self.paper}"]
        if self.failing_cell is not None:
            where = f"cell {self.failing_cell}"
            if self.failing_line is not None:
                where += f", line {self.failing_line}"
            lines.append(f"  {where}: {self.failing_source}")
        lines.append(f"  {self.error}")
        if self.notebook:
            lines.append(f"  executed notebook: {self.notebook}")
        if self.last_good:
            lines.append(f"  last good result kept: {self.last_good.get('notebook')} "
                         f"(from {self.last_good.get('date') or 'an earlier run'})")
        return "\n".join(lines)


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:100]
    return source.strip().splitlines()[0][:100] if source.strip() else ""


_CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(traceback: Sequence[str] | str, source: str,
                 exec_count: int | None = None) -> tuple[int, str] | None:
    """(line number, text) of the line of a cell that raised, read from IPython's
    traceback (``Cell In[N], line L``); the frame of cell ``exec_count`` when given, else
    the outermost cell frame. None when the traceback names no cell line."""
    text = _ANSI.sub("", traceback if isinstance(traceback, str) else "\n".join(traceback or []))
    hits = [(int(n), int(line)) for n, line in _CELL_LINE.findall(text)]
    if not hits:
        return None
    line = next((ln for n, ln in hits if n == exec_count), hits[0][1])
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return None
    return line, lines[line - 1].strip()[:160]


def _short_error(ename: str, evalue: str) -> str:
    evalue = _ANSI.sub("", str(evalue)).strip()
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
def _environ(env: Mapping[str, str]):
    """Set ``env`` in this process for the duration (a kernel started inside inherits
    it), then put back what was there, so one run's settings never leak into the next."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    kwargs: dict[str, Any] = {}
    if execution_timeout:
        kwargs["execution_timeout"] = execution_timeout
    with _environ(env), _quiet_stderr():  # the kernel process papermill starts inherits env
        pm.execute_notebook(
            str(input_path), str(output_path), parameters=parameters or None,
            kernel_name="python3", progress_bar=False, log_output=False,
            start_timeout=start_timeout, cwd=str(cwd), **kwargs)


def run_notebook(input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
                 cwd: Path, env: dict[str, str], retries: int = MAX_KERNEL_RETRIES,
                 execute: Callable[..., None] = _execute) -> tuple[bool, int, dict[str, Any]]:
    """Execute one notebook; retry when the kernel died before its first cell ran.

    Returns (ok, attempts, failure) where failure has error / cell / line / source
    (the line of the cell that raised, and its text)."""
    from papermill.exceptions import PapermillExecutionError
    output_path.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        attempt += 1
        try:
            execute(input_path, output_path, parameters, cwd, env)
            return True, attempt, {}
        except PapermillExecutionError as exc:
            where = failing_line(exc.traceback, exc.source or "", exc.exec_count)
            return False, attempt, {"error": _short_error(exc.ename, exc.evalue),
                                    "cell": exc.cell_index,
                                    "line": where[0] if where else None,
                                    "source": where[1] if where else _first_line(exc.source or "")}
        except Exception as exc:  # kernel start failures, dead kernels, timeouts
            if attempt <= retries and _kernel_never_ran(output_path):
                time.sleep(0.5 * attempt)
                continue
            return False, attempt, {"error": _short_error(type(exc).__name__, str(exc)),
                                    "cell": None, "line": None, "source": ""}


@dataclass
class Job:
    paper: str
    input_path: Path
    output_path: Path  # where the executed notebook is published on success
    profile: str
    parameters: dict[str, Any]
    env: dict[str, str]
    out_dir: Path  # where claims and figures are published on success: build/<profile>
    root: Path
    staging: Path | None = None  # scratch folder of this run: build/.staging/<profile>
    digest: str = ""  # the skip key of this run

    @property
    def staged_notebook(self) -> Path:
        return (self.staging or self.output_path.parent) / f"{self.paper}.ipynb"

    @property
    def staged_out_dir(self) -> Path:
        """The out_dir the notebook writes its claims and figures into."""
        return self.staging / self.paper if self.staging else self.out_dir

    @property
    def failed_notebook(self) -> Path:
        return self.output_path.parent / "failed" / f"{self.paper}.ipynb"


def _run_job(job: Job) -> Outcome:
    """Worker process: execute into the scratch folder, then attach provenance and check
    that the claims were written. Publishing is left to :func:`publish`."""
    started = time.perf_counter()
    shutil.rmtree(job.staged_out_dir, ignore_errors=True)
    job.staged_notebook.unlink(missing_ok=True)
    # _execute is looked up at call time so that tests can stand in for papermill
    ok, attempts, failure = run_notebook(job.input_path, job.staged_notebook, job.parameters,
                                         job.input_path.parent, job.env, execute=_execute)
    wall = time.perf_counter() - started
    claims_file = job.staged_out_dir / "claims" / f"{job.paper}.json"
    outcome = Outcome(paper=job.paper, status="ok" if ok else "failed", wall_time_s=round(wall, 1),
                      profile=job.profile, attempts=attempts, date=now_iso()[:10])
    if not ok:
        outcome.error, outcome.failing_cell, outcome.failing_source = (
            failure["error"], failure["cell"], failure["source"])
        outcome.failing_line = failure.get("line")
    sidecar = job.staged_out_dir / "claims" / f"{job.paper}.run.json"
    run_info = json.loads(sidecar.read_text()) if ok and sidecar.exists() else {}
    outcome.device = run_info.get("device", "")
    if ok and not claims_file.exists():
        outcome.status, outcome.error = "failed", "the notebook did not call run.finish(): no claims file"
    if job.staged_notebook.exists():
        _annotate_output(job.staged_notebook, job, run_info, wall)
    return outcome


def _annotate_output(output_path: Path, job: Job, run_info: dict[str, Any], wall: float) -> None:
    """Put the provenance of the run into the executed notebook's metadata."""
    nb = json.loads(output_path.read_text())
    meta = dict(run_info) if run_info else {"paper": job.paper, "profile": job.profile}
    meta["wall_time_s"] = round(wall, 2)
    meta["input_hash"] = job.digest or input_hash(job.input_path, job.parameters, job.root)
    nb.setdefault("metadata", {})["scalinglab"] = meta
    output_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _stamp_path(output_dir: Path, paper: str) -> Path:
    return output_dir / f".{paper}.stamp.json"


def _failure_path(output_dir: Path, paper: str) -> Path:
    """The record of a paper's latest failed run, beside its failed executed notebook."""
    return output_dir / "failed" / f"{paper}.json"


def _replace_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``: the old folder is renamed aside, the new one
    renamed into place (each an atomic rename), then the old one removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def publish(job: Job, outcome: Outcome) -> None:
    """Move a successful run's outputs from the scratch folder into place: claims and
    other files under out_dir one by one, the figure folder as a whole, then the
    executed notebook, then the stamp (last, so a stamp always describes published
    outputs). A failure record and failed notebook of an earlier run are removed."""
    staged = job.staged_out_dir
    staged_figures = staged / "figures" / job.paper
    if staged_figures.is_dir():
        _replace_folder(staged_figures, job.out_dir / "figures" / job.paper)
    else:  # this run made no figures: older ones would no longer belong to the result
        shutil.rmtree(job.out_dir / "figures" / job.paper, ignore_errors=True)
    if not (staged / "claims" / f"{job.paper}.run.json").exists():
        # a run sidecar of an earlier run does not describe this one
        (job.out_dir / "claims" / f"{job.paper}.run.json").unlink(missing_ok=True)
    for src in sorted(p for p in staged.rglob("*") if p.is_file()) if staged.is_dir() else []:
        target = job.out_dir / src.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, target)
    job.output_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(job.staged_notebook, job.output_path)
    rel = lambda p: os.path.relpath(p, job.root)  # noqa: E731
    outcome.notebook = rel(job.output_path)
    claims = job.out_dir / "claims" / f"{job.paper}.json"
    outcome.claims_file = rel(claims) if claims.exists() else ""
    write_atomic(_stamp_path(job.output_path.parent, job.paper),
                  json.dumps({"input_hash": job.digest, "outcome": asdict(outcome)}, indent=1))
    _forget_failure(job.output_path.parent, job.paper)
    shutil.rmtree(staged, ignore_errors=True)


def keep_failure(job: Job, outcome: Outcome) -> None:
    """Keep a failed run's executed notebook under ``failed/`` for debugging, record the
    failure, and drop its other scratch outputs; the published result is not touched."""
    rel = lambda p: os.path.relpath(p, job.root)  # noqa: E731
    outcome.notebook = outcome.claims_file = ""
    if job.staged_notebook.exists():
        job.failed_notebook.parent.mkdir(parents=True, exist_ok=True)
        os.replace(job.staged_notebook, job.failed_notebook)
        outcome.notebook = rel(job.failed_notebook)
    shutil.rmtree(job.staged_out_dir, ignore_errors=True)
    write_atomic(_failure_path(job.output_path.parent, job.paper),
                  json.dumps({"input_hash": job.digest, "outcome": asdict(outcome)}, indent=1))


def _forget_failure(output_dir: Path, paper: str) -> None:
    _failure_path(output_dir, paper).unlink(missing_ok=True)
    (output_dir / "failed" / f"{paper}.ipynb").unlink(missing_ok=True)


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


def _last_good(output_dir: Path, paper: str, root: Path) -> Outcome | None:
    """The published result of a paper's last successful run, when it is still in place."""
    stamp = _stamp_path(output_dir, paper)
    if not stamp.exists() or not (output_dir / f"{paper}.ipynb").exists():
        return None
    try:
        saved = json.loads(stamp.read_text())
        good = Outcome.from_dict(saved["outcome"], status="cached")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _read_claims(good, root)
    return good


def _last_good_entry(good: Outcome) -> dict[str, Any]:
    return {"date": good.date, "counts": dict(good.counts), "notebook": good.notebook,
            "claims_file": good.claims_file, "wall_time_s": good.wall_time_s,
            "device": good.device}


def _recorded_failure(output_dir: Path, paper: str) -> Outcome | None:
    path = _failure_path(output_dir, paper)
    if not path.exists():
        return None
    try:
        return Outcome.from_dict(json.loads(path.read_text())["outcome"], status="failed")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_device(device: str, executor: str = "local") -> None:
    """An explicit device must exist on this machine, except cuda with a cluster
    executor (the sweep's runs execute on nodes whose GPUs this machine need not have)."""
    check_choice("device", device, DEVICES)
    if device in ("cuda", "mps") and not (device == "cuda" and executor != "local"):
        resolve_device(device)  # auto and cpu always resolve (without importing torch)


def _selected_papers(papers: Sequence[str] | None) -> list[str] | None:
    """None for every notebook; else the names given, without blanks and repeats. A
    selection that names nothing (``PAPERS=,``) is an error, not "all"."""
    if papers is None:
        return None
    if isinstance(papers, str):
        papers = papers.split(",")
    names = [str(p).strip().removesuffix(".ipynb") for p in papers if str(p).strip()]
    if not names:
        raise ParameterError(f"papers={list(papers)!r} names no paper; name notebooks "
                             "(comma-separated), or leave it unset to run them all")
    return list(dict.fromkeys(names))


def prepare_parameters(nb: Path, injected: Mapping[str, Any],
                       user: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters to inject into notebook ``nb``: the runner's and the user's, checked
    against the notebook's declarations and converted to their declared types."""
    paper = nb.stem
    declared = notebook_parameters(nb, label=f"{paper}")
    missing = [name for name in injected if name not in declared]
    if missing:
        raise ParameterError(f"{paper} does not declare {', '.join(missing)} in its parameters "
                             f"cell (the runner sets {', '.join(RUNNER_PARAMETERS)})")
    for name in user:
        if name not in declared:
            raise ParameterError(f"{paper} does not declare the parameter {name!r}; it declares "
                                 f"{', '.join(declared)} (choose notebooks with PAPERS=)")
    return validate(declared, {**injected, **user}, owner=paper)


def reproduce(papers: Sequence[str] | None = None, profile: str | None = None,
              jobs: int | None = None, force: bool = False, executor: str = "local",
              workers: int | None = None, device: str = "auto", progress: bool = True,
              root: Path | None = None, notebooks: Path | None = None,
              stream=None, params: Mapping[str, Any] | None = None) -> list[Outcome]:
    """Run notebooks at a profile; print a summary; write build/scorecard.{json,md}.

    ``params`` sets notebook parameters beyond the runner's own (``bootstrap=200``);
    each selected notebook must declare them. Every input is checked before the first
    kernel starts, and a failed run leaves the last good result of its notebook in place."""
    stream = stream or sys.stdout
    root = Path(root) if root else paths.project_root()
    profile = check_choice("profile", profile or default_profile(), PROFILES)
    check_choice("executor", executor, EXECUTORS)
    check_device(device, executor)
    if jobs is not None:
        jobs = check_int("jobs", jobs, minimum=1)
    if workers is None:
        # ci: one worker, as the stored outputs were made. Otherwise the cores not taken by
        # parallel notebooks go to each notebook's sweep, one single-threaded run per core:
        # tiny models train faster that way than on two threads each (Kaplan at cpu: 639 s
        # with one two-threaded worker on 2 cores).
        workers = 1 if profile == "ci" else max(1, (os.cpu_count() or 1) // (jobs or 1))
    workers = check_int("workers", workers, minimum=1)
    folder = notebooks or root / "notebooks"
    nbs = discover(_selected_papers(papers), folder)
    if not nbs:
        raise ParameterError(f"no notebooks to run in {paths.display_path(folder)}")
    user = dict(params or {})
    reserved = [name for name in user if name in RUNNER_PARAMETERS]
    if "out_dir" in reserved:
        raise ParameterError("out_dir is set by the runner (outputs go to build/<profile>/); "
                             "it cannot be given as a notebook parameter")
    if reserved:
        name = reserved[0]
        raise ParameterError(f"{name} is a runner option: give it as --{name} (or "
                             f"{name.upper()}= to make), not as a notebook parameter")
    staging_rel = f"build/.staging/{profile}"
    prepared: list[tuple[Path, dict[str, Any]]] = []
    for nb in nbs:
        # out_dir is injected relative to the project root so no executed notebook names
        # a folder of this machine; it is the run's scratch folder, published on success.
        injected = {"profile": profile, "device": device, "out_dir": f"{staging_rel}/{nb.stem}",
                    "executor": executor, "workers": workers}
        prepared.append((nb, prepare_parameters(nb, injected, user)))
    jobs = jobs if jobs is not None else ((os.cpu_count() or 1) if profile == "ci" else 1)

    # All checked: from here on, files are written.
    build = root / "build"
    output_dir = build / "notebooks" / profile
    out_dir = build / profile
    staging = root / staging_rel
    output_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(KERNEL_ENV, SCALINGLAB_ROOT=str(root))
    if profile == "ci":
        env.update(CI_THREAD_ENV)
    shared = shared_inputs_hash(root)

    outcomes: dict[str, Outcome] = {}
    todo: list[Job] = []
    for nb, parameters in prepared:
        paper = nb.stem
        digest = input_hash(nb, parameters, root, shared=shared)
        job = Job(paper, nb, output_dir / nb.name, profile, parameters, env, out_dir, root,
                  staging=staging, digest=digest)
        good = _last_good(output_dir, paper, root)
        if not force and good is not None:
            saved = json.loads(_stamp_path(output_dir, paper).read_text())
            if saved.get("input_hash") == digest and saved.get("outcome", {}).get("status") == "ok":
                outcomes[paper] = good
                _forget_failure(output_dir, paper)  # the good result matches today's inputs
                continue
        todo.append(job)

    if todo:
        from scalinglab.base.progress import progress_bar
        staging.mkdir(parents=True, exist_ok=True)
        bar = progress_bar(total=len(todo), desc=f"notebooks ({profile})", unit="nb",
                           enabled=progress, file=sys.stderr)
        pool_size = min(jobs, len(todo))
        with cf.ProcessPoolExecutor(max_workers=pool_size) as pool:
            futures = {pool.submit(_run_job, job): job for job in todo}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # the worker process itself died
                    outcome = Outcome(paper=job.paper, status="failed", profile=profile,
                                      error=_short_error(type(exc).__name__, str(exc)),
                                      date=now_iso()[:10])
                try:
                    if outcome.status == "ok":
                        publish(job, outcome)
                    else:
                        keep_failure(job, outcome)
                except OSError as exc:
                    outcome.status = "failed"
                    outcome.error = f"could not publish the outputs: {exc}"
                if outcome.status == "failed":
                    good = _last_good(output_dir, job.paper, root)
                    if good is not None:
                        outcome.last_good = _last_good_entry(good)
                        outcome.title, outcome.citation = good.title, good.citation
                outcomes[job.paper] = outcome
                bar.set_postfix_str(f"{job.paper}: {outcome.status}")
                bar.update(1)
        bar.close()
        with contextlib.suppress(OSError):  # empty once every run was published or kept
            staging.rmdir()
            staging.parent.rmdir()

    ordered = [outcomes[nb.stem] for nb, _ in prepared]
    for o in ordered:
        _read_claims(o, root)  # a failed run has no claims file: no counts to show
    for o in ordered:
        if o.status == "failed":
            print(o.describe_failure(), file=stream)
    print(summary_table(ordered), file=stream)
    # The scorecard covers every notebook with a result at this profile, not only the
    # ones selected with PAPERS=: the others keep the outcome of their latest run.
    everything = list(ordered)
    selected = {nb.stem for nb, _ in prepared}
    for nb in discover(None, folder):
        if nb.stem in selected:
            continue
        good = _last_good(output_dir, nb.stem, root)
        failure = _recorded_failure(output_dir, nb.stem)
        if failure is not None:
            if good is not None:
                failure.last_good = _last_good_entry(good)
                failure.title, failure.citation = good.title, good.citation
            everything.append(failure)
        elif good is not None:
            everything.append(good)
    everything.sort(key=lambda o: o.paper)
    write_scorecard(everything, profile, build)
    for o in ordered:
        if o.status == "ok" and o.wall_time_s > BUDGET_S[profile]:
            print(f"note: {o.paper} took {o.wall_time_s:.0f} s, over the {profile} budget of "
                  f"{BUDGET_S[profile]} s", file=stream)
    return ordered


def _claims_text(counts: Mapping[str, int]) -> str:
    if not counts:
        return "—"
    text = f"{counts.get('reproduced', 0)}/{counts.get('judged', 0)}"
    if counts.get("indicative"):
        text += f" (+{counts['indicative']} ind.)"
    return text


def summary_table(outcomes: Iterable[Outcome]) -> str:
    """One row per notebook. A failed notebook shows no claims (its run produced none)
    and says whether its last good result was kept."""
    rows = [("paper", "claims", "status", "wall time", "profile", "device")]
    for o in outcomes:
        claims = "—" if o.status == "failed" else _claims_text(o.counts)
        wall = f"{o.wall_time_s:.1f} s" + (" (cached)" if o.status == "cached" else "")
        rows.append((o.paper, claims, o.status_text, wall, o.profile, o.device or "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(rows[0]), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


def write_scorecard(outcomes: Sequence[Outcome], profile: str, build: Path) -> dict[str, Any]:
    """build/scorecard.{json,md} and build/<profile>/scorecard.json. The totals count
    fresh results (run or cached) only; a failed notebook counts as failed, with the
    last good result that stays published under ``last_good``, totalled apart."""
    papers = []
    for o in outcomes:
        c = {} if o.status == "failed" else (o.counts or {})
        last_good = None
        if o.status == "failed" and o.last_good:
            g = o.last_good.get("counts") or {}
            last_good = {
                "date": o.last_good.get("date", ""), "claims_total": g.get("total", 0),
                "claims_judged": g.get("judged", 0), "claims_reproduced": g.get("reproduced", 0),
                "claims_indicative": g.get("indicative", 0),
                "wall_time_s": o.last_good.get("wall_time_s", 0.0),
                "device": o.last_good.get("device", ""),
                "notebook": o.last_good.get("notebook", ""),
                "claims_file": o.last_good.get("claims_file", ""),
            }
        papers.append({
            "paper": o.paper, "title": o.title, "citation": o.citation, "profile": o.profile,
            "device": o.device, "status": o.status, "claims_total": c.get("total", 0),
            "claims_judged": c.get("judged", 0), "claims_reproduced": c.get("reproduced", 0),
            "claims_indicative": c.get("indicative", 0), "wall_time_s": o.wall_time_s,
            "date": o.date, "notebook": o.notebook, "claims_file": o.claims_file,
            "error": o.error, "last_good": last_good,
        })
    kept = [p["last_good"] for p in papers if p["last_good"]]
    totals = {
        "papers": len(papers),
        "claims_total": sum(p["claims_total"] for p in papers),
        "claims_judged": sum(p["claims_judged"] for p in papers),
        "claims_reproduced": sum(p["claims_reproduced"] for p in papers),
        "claims_indicative": sum(p["claims_indicative"] for p in papers),
        "failed": sum(p["status"] == "failed" for p in papers),
        "last_good": len(kept),
        "last_good_claims_judged": sum(k["claims_judged"] for k in kept),
        "last_good_claims_reproduced": sum(k["claims_reproduced"] for k in kept),
        "last_good_claims_indicative": sum(k["claims_indicative"] for k in kept),
    }
    card = {"profile": profile, "generated_at": now_iso(), "totals": totals, "papers": papers}
    build.mkdir(parents=True, exist_ok=True)
    text = json.dumps(card, indent=2) + "\n"
    write_atomic(build / "scorecard.json", text)  # the latest run, whatever its profile
    write_atomic(build / profile / "scorecard.json", text)
    md = [f"# scalinglab scorecard ({profile} profile)", "",
          f"{totals['claims_reproduced']}/{totals['claims_judged']} judged claims reproduced "
          f"across {totals['papers']} papers "
          f"({totals['claims_indicative']} indicative, {totals['failed']} notebooks failed)."]
    if kept:
        md += ["", f"Not counted above: the last good results kept for {len(kept)} failed "
                   f"notebook{'s' if len(kept) != 1 else ''}, "
                   f"{totals['last_good_claims_reproduced']}/{totals['last_good_claims_judged']} "
                   "judged claims reproduced when they last ran."]
    md += ["", "| paper | reproduced / judged | indicative | status | wall time (s) | device |",
           "|---|---|---|---|---|---|"]
    for p, o in zip(papers, outcomes):
        if p["status"] == "failed":
            status = o.status_text
            if p["last_good"]:
                status += (f": {p['last_good']['claims_reproduced']}/"
                           f"{p['last_good']['claims_judged']} then")
            md.append(f"| {p['paper']} | — | — | {status} | {p['wall_time_s']:.1f} | "
                      f"{p['device'] or '—'} |")
            continue
        md.append(f"| {p['paper']} | {p['claims_reproduced']}/{p['claims_judged']} | "
                  f"{p['claims_indicative']} | {p['status']} | {p['wall_time_s']:.1f} | "
                  f"{p['device'] or '—'} |")
    write_atomic(build / "scorecard.md", "\n".join(md) + "\n")
    return card


def golden(papers: Sequence[str] | None = None, root: Path | None = None,
           notebooks: Path | None = None, stream=None) -> int:
    """Re-execute notebooks in place at their defaults (the ci profile): the stored
    outputs nbval checks. A failing notebook is left untouched. Returns the failures."""
    stream = stream or sys.stdout
    root = Path(root) if root else paths.project_root()
    nbs = discover(papers, notebooks or root / "notebooks")
    from scalinglab.repro.nbfiles import write_notebook
    from scalinglab.repro.stability import CHECK_ENV, EXPORT_ENV, store_claims
    # A golden run replaces the stored claims, so it is not compared with them.
    env = {**KERNEL_ENV, **CI_THREAD_ENV, "SCALINGLAB_ROOT": str(root), CHECK_ENV: "0"}
    failures = 0
    for nb in nbs:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / nb.name
            # run.finish() also writes the claims under tmp; they go into the notebook's
            # metadata, where nbval runs compare their own claims with them by value
            ok, _, failure = run_notebook(nb, out, None, nb.parent, {**env, EXPORT_ENV: tmp})
            if ok:
                data = strip_run_metadata(json.loads(out.read_text()))
                store_claims(data, Path(tmp) / "claims" / f"{nb.stem}.json")
                # in the form a JupyterLab save writes: opening and saving leaves no diff
                write_notebook(nb, data)
        wall = time.perf_counter() - started
        if ok:
            print(f"golden {nb.stem}: stored outputs refreshed ({wall:.1f} s)", file=stream)
        else:
            failures += 1
            print(f"golden {nb.stem}: FAILED, notebook left as it was\n"
                  f"  cell {failure['cell']}: {failure['source']}\n  {failure['error']}", file=stream)
    return failures
