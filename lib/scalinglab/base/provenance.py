"""Provenance: what code, packages and machine produced a result.

``stable_provenance`` holds what is identical between two executions on one machine at
one commit (so claims files stay byte-identical); ``timing`` holds wall time and dates,
kept in the run sidecar and the executed notebook's metadata."""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from scalinglab.base import __version__
from scalinglab.base.paths import PACKAGE_DIR, project_root

KEY_PACKAGES = ("numpy", "scipy", "pandas", "torch", "matplotlib", "papermill")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=project_root(), capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status) if status is not None else None
    return {"commit": commit, "dirty": dirty}


def package_versions(names=KEY_PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=1)
def library_hash() -> str:
    """sha256 over the library's source files (path and content), the code version
    that run-cache keys and the runner's skip check depend on."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def device_name(device: str) -> str:
    if device == "cuda":
        try:
            import torch
            return torch.cuda.get_device_name(0)
        except Exception:
            return "cuda"
    if device == "mps":
        return "Apple MPS"
    return platform.processor() or platform.machine() or "cpu"


def thread_count() -> int:
    try:
        import torch
        return int(torch.get_num_threads())
    except Exception:
        return os.cpu_count() or 1


def stable_provenance(*, device: str, seed: int, profile: str) -> dict[str, Any]:
    return {
        "git": git_state(),
        "scalinglab": __version__,
        "library_sha256": library_hash(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": device,
        "device_name": device_name(device),
        "threads": thread_count(),
        "seed": seed,
        "profile": profile,
    }


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def python_executable() -> str:
    return sys.executable


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_files_used(modules: Iterable[Any] | None = None) -> dict[str, str]:
    """sha256 of every scalinglab source file among ``modules`` (default: the modules
    this process has loaded), keyed by its path relative to the package: what a result
    of record depends on (scalinglab.repro.record)."""
    mods = list(sys.modules.values()) if modules is None else list(modules)
    out: dict[str, str] = {}
    for mod in mods:
        name = getattr(mod, "__name__", "") or ""
        file = getattr(mod, "__file__", None)
        if not (name == "scalinglab" or name.startswith("scalinglab.")) or not file:
            continue
        path = Path(file)
        try:
            rel = path.resolve().relative_to(PACKAGE_DIR.resolve())
        except ValueError:
            continue  # an installed copy elsewhere: not this checkout's code
        if path.suffix == ".py" and path.exists():
            out[rel.as_posix()] = file_sha256(path)
    return dict(sorted(out.items()))


__all__ = ["git_state", "package_versions", "library_hash", "stable_provenance", "now_iso",
           "file_sha256", "device_name", "thread_count", "library_files_used", "Path"]
