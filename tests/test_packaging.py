"""scalinglab as a dependency: build the wheel, install it outside the checkout, and run
the README's examples from a temporary folder with the installed package.

The wheel is built from a copy of what the build reads (so it sees only what a clone has and
writes nothing into the checkout), without build isolation or an index (nothing is downloaded), and
installed with ``pip install --target`` into a folder that comes first on PYTHONPATH.
The commands run with no ``SCALINGLAB_ROOT``, their own home folder (the per-user cache)
and the published-data mirror when one is present, as in CI.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scalinglab import __version__
from scalinglab.data import published

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "mirror"
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "lib", "data"]
OWN_SECTION = "## Use the library in your own project"
FIT_SECTION = "## Fit your own runs"


def _pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--no-index",
                           "--disable-pip-version-check"], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"pip {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory):
    """(the wheel, the folder it is installed into, a work folder outside the checkout,
    the environment the installed package runs in)."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp / "dist"), str(src), cwd=tmp)
    (wheel,) = (tmp / "dist").glob("scalinglab-*.whl")
    site = tmp / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SCALINGLAB_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(site), PYTHONNOUSERSITE="1", HOME=str(tmp / "home"),
               XDG_CACHE_HOME=str(tmp / "home" / ".cache"), SCALINGLAB_PROGRESS="0")
    if (MIRROR / "MANIFEST.tsv").exists():
        env["SCALINGLAB_DATA_MIRROR"] = str(MIRROR)
    return wheel, site, work, env


def _run(argv: list[str], wheel_install, **kw) -> subprocess.CompletedProcess:
    _, site, work, env = wheel_install
    if argv[0] == "scalinglab":  # the console script pip wrote
        argv = [str(site / "bin" / "scalinglab"), *argv[1:]]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _python(code: str, wheel_install) -> str:
    return _run([sys.executable, "-c", code], wheel_install).stdout


def _needs_mirror(wheel_install) -> None:
    if "SCALINGLAB_DATA_MIRROR" not in wheel_install[3]:
        pytest.skip("the published-data mirror is not present")


def test_the_wheel_carries_the_library_the_command_and_the_registry(wheel_install):
    wheel = wheel_install[0]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        bundled = zf.read("scalinglab/bundled/data/remote.yaml")
        entry_points = zf.read(f"scalinglab-{__version__}.dist-info/entry_points.txt").decode()
        metadata = zf.read(f"scalinglab-{__version__}.dist-info/METADATA").decode()
    assert wheel.name == f"scalinglab-{__version__}-py3-none-any.whl"
    # the registry is the checkout's file, copied at build time: one source, no drift
    assert bundled == (ROOT / "data" / "remote.yaml").read_bytes()
    for rf in published.registry().values():
        if rf.transcription:
            assert f"scalinglab/bundled/{rf.transcription}" in names
    modules = {p.relative_to(ROOT / "lib").as_posix() for p in (ROOT / "lib" / "scalinglab").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert not {n for n in names if n.startswith(("tests/", "notebooks/", "results/", "data/"))}
    assert re.search(r"^scalinglab = scalinglab\.cli:main$", entry_points, re.M)
    assert f"\nVersion: {__version__}\n" in metadata and "Requires-Dist: pooch" in metadata


def test_the_installed_package_runs_outside_any_checkout(wheel_install):
    _, site, work, _ = wheel_install
    out = _python("import scalinglab; from scalinglab.base import paths; from scalinglab.data import published; "
                  "print(scalinglab.__file__); print(paths.checkout_root()); print(published.registry_path()); "
                  "print(published.cache_root())", wheel_install).splitlines()
    assert out[0] == str(site / "scalinglab" / "__init__.py")
    assert out[1] == "None"
    assert out[2] == str(site / "scalinglab" / "bundled" / "data" / "remote.yaml")
    assert out[3] == str(Path(wheel_install[3]["XDG_CACHE_HOME"]) / "scalinglab" / "data")
    assert _run(["scalinglab", "--version"], wheel_install).stdout == f"scalinglab {__version__}\n"
    assert not (work / "build").exists()


def test_data_list_shows_every_pinned_file(wheel_install):
    out = _run(["scalinglab", "data", "list"], wheel_install).stdout
    reg = published.registry()
    assert out.startswith(f"{len(reg)} published files pinned in the registry built into this package")
    listed = {line.split()[0] for line in out.splitlines()[2:] if not line.startswith(" ")}
    assert listed == set(reg)


def test_a_published_table_loads_through_the_mirror(wheel_install):
    _needs_mirror(wheel_install)
    code = "from scalinglab.data import published; print(published.load_csv('epoch_chinchilla_runs').shape)"
    assert _python(code, wheel_install).strip() == "(245, 7)"


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    assert title in text, f"README.md has no section {title!r}"
    return text.split(title, 1)[1].split("\n## ", 1)[0]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section, re.S | re.M)


def _commands(block: str) -> list[list[str]]:
    """The `scalinglab ...` lines of a shell block, as argument lists (comments dropped)."""
    return [shlex.split(line, comments=True) for line in block.splitlines()
            if line.startswith("scalinglab ")]


def test_the_readme_examples_for_your_own_project_run(wheel_install):
    _needs_mirror(wheel_install)
    section = _section(OWN_SECTION)
    commands = [c for block in _blocks(section, "bash") for c in _commands(block)]
    assert [c[:3] for c in commands if c[1] == "data"] == [["scalinglab", "data", "list"],
                                                           ["scalinglab", "data", "fetch"]]
    assert any(c[1] == "fit" for c in commands)
    for argv in commands:
        out = _run(argv, wheel_install).stdout
        if argv[1] == "fit":
            assert "converged" in out
    (code,) = _blocks(section, "python")
    out = _python(code, wheel_install)
    assert "epoch_chinchilla_runs: " in out and out.rstrip().endswith("True")


def test_the_readme_fit_examples_run(wheel_install):
    """`Fit your own runs` shows commands on the user's files; the test writes files with
    those columns (runs of a known Chinchilla law) and runs each command as shown."""
    import numpy as np
    import pandas as pd
    from scalinglab.site.examples import example_csv
    from test_isoflop import training_curves
    work = wheel_install[2]
    (work / "runs.csv").write_text(example_csv())
    B = np.geomspace(1e8, 1e11, 12)
    pd.DataFrame({"tokens": B, "critical_batch": 0.2 * B ** 0.47}).to_csv(work / "batch.csv", index=False)
    training_curves().rename(columns={"N": "params", "C": "flops"}).to_csv(work / "curves.csv", index=False)
    commands = [c for block in _blocks(_section(FIT_SECTION), "bash") for c in _commands(block)]
    assert {c[1] for c in commands} == {"fit", "isoflop"} and len(commands) >= 4
    for argv in commands:
        _run(argv, wheel_install)


@pytest.mark.parametrize("command", [["reproduce"], ["record", "--check"], ["golden"], ["golden-check"],
                                     ["new-paper", "smith2024_widgets", "--title", "Widgets"]])
def test_the_notebook_commands_say_they_need_a_checkout(wheel_install, command):
    _, site, work, env = wheel_install
    proc = subprocess.run([str(site / "bin" / "scalinglab"), *command], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"scalinglab: `scalinglab {command[0]}` works in a scalinglab checkout (its "
                           "notebooks/, data/ and results/), and this scalinglab is an installed package; "
                           "clone the repository and run it there, or set SCALINGLAB_ROOT to a checkout\n")
    assert sorted(p.name for p in work.iterdir() if p.name not in ("runs.csv", "batch.csv", "curves.csv",
                                                                   "chinchilla.csv")) == []
