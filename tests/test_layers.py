"""The library's packages form layers: a module imports only from its own layer's package
or from layers below it, and the base imports nothing of ours.

    0  scalinglab.base      paths, progress, provenance, profiles, plotting, perturb
    1  scalinglab.fit, scalinglab.models
    2  scalinglab.data
    3  scalinglab.train
    4  scalinglab.sweep
    5  scalinglab.theory
    6  scalinglab.repro
    7  scalinglab.site
    8  scalinglab itself (__init__), scalinglab.cli, scalinglab.__main__

Every import of a scalinglab module counts, at module level or inside a function:
``import x``, ``from x import y``, relative imports and ``importlib.import_module`` with a
literal name."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "lib" / "scalinglab"

LAYERS = {
    "base": 0,
    "fit": 1, "models": 1,
    "data": 2,
    "train": 3,
    "sweep": 4,
    "theory": 5,
    "repro": 6,
    "site": 7,
}
TOP = 8  # the package itself, its command line and anything not listed above


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str | None:
    """The first-level package of a scalinglab module (``"fit"``), or None for the top."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return None


def layer_of(module: str) -> int:
    package = package_of(module)
    return TOP if package is None else LAYERS[package]


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(path: Path) -> list[tuple[str, int]]:
    """``(imported scalinglab module, line)`` for every import in the file."""
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(importer, is_package, node.level, node.module)
            else:
                target = node.module or ""
            # ``from scalinglab import fit`` imports the subpackage, not the top
            for alias in node.names:
                if target == "scalinglab" and alias.name in LAYERS:
                    found.append((f"scalinglab.{alias.name}", node.lineno))
                else:
                    found.append((target, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (name == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.append((node.args[0].value, node.lineno))
    return [(m, line) for m, line in found if m == "scalinglab" or m.startswith("scalinglab.")]


def import_edges() -> list[tuple[str, str, int, Path]]:
    edges = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        importer = module_name(path)
        for imported, line in imports_of(path):
            edges.append((importer, imported, line, path))
    return edges


def _describe(edges) -> str:
    lines = sorted({f"{importer} -> {imported} (layer {layer_of(importer)} -> layer "
                    f"{layer_of(imported)}) at {path.relative_to(PACKAGE_DIR.parent)}:{line}"
                    for importer, imported, line, path in edges})
    return "\n".join(lines)


def test_the_walk_sees_the_library():
    edges = import_edges()
    importers = {e[0] for e in edges}
    assert {"scalinglab.repro.notebook", "scalinglab.sweep.runner", "scalinglab.base.provenance"} <= importers
    # relative and ``from scalinglab import pkg`` forms resolve to the right module
    assert _resolve_relative("scalinglab.fit.api", False, 1, "laws") == "scalinglab.fit.laws"
    assert _resolve_relative("scalinglab.fit", True, 2, "base") == "scalinglab.base"
    assert layer_of("scalinglab") == TOP and layer_of("scalinglab.cli") == TOP
    assert layer_of("scalinglab.base.paths") == 0 and layer_of("scalinglab.site.__main__") == 7


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS), (
        f"packages without a layer: {sorted(packages - set(LAYERS))}; "
        f"layers without a package: {sorted(set(LAYERS) - packages)}")


def test_no_module_imports_a_higher_layer():
    upward = [e for e in import_edges() if layer_of(e[1]) > layer_of(e[0])]
    assert not upward, "imports of a higher layer:\n" + _describe(upward)


def test_packages_of_one_layer_do_not_import_each_other():
    sideways = [e for e in import_edges()
                if layer_of(e[1]) == layer_of(e[0]) < TOP and package_of(e[1]) != package_of(e[0])]
    assert not sideways, "imports between packages of one layer:\n" + _describe(sideways)


def test_base_imports_nothing_else_of_ours():
    outside = [e for e in import_edges()
               if package_of(e[0]) == "base" and package_of(e[1]) != "base"]
    assert not outside, "the base imports other scalinglab modules:\n" + _describe(outside)


# -- what importing the fitting package loads ------------------------------------------
HEAVY = ("scalinglab.repro", "matplotlib", "torch")

_PROBE = textwrap.dedent("""
    import builtins, importlib, json, pkgutil, sys
    first = {}                    # module -> the module whose import first loaded it
    real_import = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "?")
        before = set(sys.modules)
        module = real_import(name, globals, locals, fromlist, level)
        for new in set(sys.modules) - before:
            first.setdefault(new, importer)
        return module

    builtins.__import__ = recording_import
    import scalinglab.fit
    after_package = sorted(sys.modules)
    errors = []  # a name or module that does not load is the fit tests' business, not this one's
    for name in getattr(scalinglab.fit, "__all__", ()):
        try:
            getattr(scalinglab.fit, name)
        except Exception as exc:
            errors.append(f"scalinglab.fit.{name}: {exc!r}")
    for info in pkgutil.walk_packages(scalinglab.fit.__path__, "scalinglab.fit."):
        try:
            before = set(sys.modules)
            importlib.import_module(info.name)
            for new in set(sys.modules) - before:
                first.setdefault(new, info.name)
        except Exception as exc:
            errors.append(f"{info.name}: {exc!r}")
    print(json.dumps({"package": after_package, "modules": sorted(sys.modules), "first": first,
                      "errors": errors}))
""")


def _loaded_by_fit():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         timeout=300, cwd=PACKAGE_DIR.parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _heavy(modules) -> list[str]:
    """Which of HEAVY (whole packages) are among ``modules``."""
    return [h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in modules)]


def _chain(module: str, first: dict) -> str:
    """``scalinglab.fit.x -> scalinglab.base.y -> matplotlib``: who loaded ``module``."""
    chain, seen = [module], {module}
    while chain[0] in first and first[chain[0]] not in seen:
        chain.insert(0, first[chain[0]])
        seen.add(chain[0])
        if chain[0].startswith("scalinglab.fit"):
            break
    return " -> ".join(chain)


@pytest.fixture(scope="module")
def loaded_by_fit():
    return _loaded_by_fit()


def _report(what: str, heavy: list[str], probe: dict) -> str:
    return f"{what} loads {', '.join(heavy)}:\n" + "\n".join(
        _chain(h, probe["first"]) for h in heavy)


def test_importing_the_fit_package_loads_no_notebook_machinery_matplotlib_or_torch(loaded_by_fit):
    heavy = _heavy(loaded_by_fit["package"])
    assert not heavy, _report("import scalinglab.fit", heavy, loaded_by_fit)


def test_the_fit_packages_modules_load_no_notebook_machinery_matplotlib_or_torch(loaded_by_fit):
    """Every public name of scalinglab.fit and every module under it, loaded."""
    heavy = _heavy(loaded_by_fit["modules"])
    errors = loaded_by_fit["errors"]
    assert not heavy, _report("scalinglab.fit's names and modules", heavy, loaded_by_fit) + (
        "\n(these did not load: " + "; ".join(errors) + ")" if errors else "")
