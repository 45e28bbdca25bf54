"""Where things live: the project root, the build folder and the shared run cache."""
from __future__ import annotations

import os
from pathlib import Path

from scalinglab.base.perturb import WEIGHTS_ENV, perturbation

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def checkout_root() -> Path | None:
    """The scalinglab checkout this library runs from (an editable install, or
    ``SCALINGLAB_ROOT``, which the runner sets for the kernels it starts); None for a
    package installed from a wheel."""
    if os.environ.get("SCALINGLAB_ROOT"):
        return Path(os.environ["SCALINGLAB_ROOT"])
    candidate = PACKAGE_DIR.parents[1]  # lib/scalinglab -> lib -> root
    if (candidate / "pyproject.toml").exists() and (candidate / "notebooks").is_dir():
        return candidate
    return None


def project_root() -> Path:
    """The scalinglab checkout this library runs from (:func:`checkout_root`), or the
    current directory when the library is used outside a checkout."""
    return checkout_root() or Path.cwd()


def build_dir() -> Path:
    return Path(os.environ.get("SCALINGLAB_BUILD", project_root() / "build"))


def cache_dir() -> Path:
    """The run cache shared by every notebook and profile (overridable for tests).
    Runs made with perturbed initial weights (``SCALINGLAB_PERTURB_WEIGHTS``, a
    stability check) get a cache of their own, so they never stand in for real runs."""
    root = Path(os.environ.get("SCALINGLAB_CACHE", build_dir() / "cache"))
    eps = perturbation(WEIGHTS_ENV)
    return root / f"perturbed-weights-{eps:g}" if eps else root


def resolve(path: str | os.PathLike) -> Path:
    """Relative paths are taken from the project root, so a notebook's ``out_dir``
    means the same thing in JupyterLab, under nbval and under the runner."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p


def display_path(path: str | os.PathLike) -> str:
    """A path as it may be printed in a notebook: relative to the project root, so no
    stored output names a folder of the machine that ran it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(project_root().resolve()))
    except ValueError:
        return p.name
