"""Build hook: a built package carries the published-data registry.

``data/remote.yaml`` (the pins) and ``data/published/`` (the committed transcriptions)
belong to the repository, beside the catalogue, and stay its only copy. When a wheel is
built (``pip wheel .``, ``pip install .``), they are copied into the built package as
``scalinglab/bundled/data/``, the layout ``scalinglab.data.published`` reads when it runs
outside a checkout. An editable install reads the checkout's own files and gets no copy.
Everything else is declared in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ["data/remote.yaml", "data/published"]  # relative to the repository root


class BuildWithRegistry(build_py):
    def run(self):
        editable = getattr(self, "editable_mode", False)
        if not editable:
            # pip builds in the source tree: start from an empty package folder, so a module
            # removed since the last build does not ride along in the next wheel
            shutil.rmtree(Path(self.build_lib) / "scalinglab", ignore_errors=True)
        super().run()
        if editable:
            return
        target = Path(self.build_lib) / "scalinglab" / "bundled"
        for rel in BUNDLED:
            source = HERE / rel
            if not source.exists():
                raise SystemExit(f"cannot build scalinglab: {rel} is missing from {HERE}")
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            for path in files:
                out = target / path.relative_to(HERE)
                self.mkpath(str(out.parent))
                self.copy_file(str(path), str(out), preserve_mode=False)


# setuptools' own build folders go under build/package, apart from the project's build/
setup(cmdclass={"build_py": BuildWithRegistry}, options={"build": {"build_base": "build/package"}})
