"""The environment files agree with each other and pin every direct dependency."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)$")


def requirement_lines(name):
    lines = []
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-cluster.txt"):
        for line in requirement_lines(name):
            assert PIN.match(line), f"{name}: {line!r} is not pinned with =="


def test_torch_pin_is_the_plain_version():
    pins = dict(PIN.match(l).groups() for l in requirement_lines("requirements.txt"))
    assert pins["torch"] == "2.13.0"


def test_environment_yml_points_at_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip_section
    # nothing else may pin a package here, or the two files could drift apart
    others = [p for p in pip_section if p not in ("-r requirements.txt", "-e .")]
    assert not others, f"environment.yml lists packages outside requirements.txt: {others}"
    conda_pkgs = [d for d in deps if isinstance(d, str) and d not in ("python=3.11", "pip")]
    assert not conda_pkgs, f"environment.yml lists conda packages: {conda_pkgs}"


def test_pyproject_dependencies_are_pinned_in_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {PIN.match(l).group(1).lower() for l in requirement_lines("requirements.txt")}
    for dep in project["dependencies"]:
        name = re.split(r"[<>=\[ ]", dep)[0].lower()
        assert name in pinned, f"pyproject dependency {name} is not pinned in requirements.txt"
    cluster = {PIN.match(l).group(1).lower() for l in requirement_lines("requirements-cluster.txt")}
    for dep in project["optional-dependencies"]["cluster"]:
        assert re.split(r"[<>=\[ ]", dep)[0].lower() in cluster
