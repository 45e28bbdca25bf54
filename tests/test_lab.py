"""`make lab`: JupyterLab with the project's configuration (lab/). Its kernels have the
ci profile's environment, autosave is off, and opening and saving a paper notebook
leaves its file as it is, because the stored notebooks are in the form a JupyterLab save
writes (scalinglab.repro.nbfiles)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scalinglab.repro.checks import check_notebook
from scalinglab.repro.nbfiles import (
    KERNEL_DISPLAY_NAME, KERNELSPEC, format_problems, normalise_notebook, notebook_text,
    write_notebook,
)
from scalinglab.repro.runner import CI_THREAD_ENV, KERNEL_ENV

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "lab"
NOTEBOOK = "caballero2022_bnsl.ipynb"  # a small paper notebook; any would do
TOKEN = "scalinglab-test"
START_TIMEOUT_S = 60
pytestmark = pytest.mark.timeout(150)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, base: str, folder: Path):
        self.base, self.folder = base, folder

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"null")


def _start(tmp: Path, folder: Path) -> tuple[subprocess.Popen, str]:
    """A JupyterLab server on 127.0.0.1 with the project's configuration, as `make lab`
    sets it, but with its runtime files, settings and workspaces under ``tmp``."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(LAB), JUPYTER_PATH=str(LAB),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_DATA_DIR=str(tmp / "data"))
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / f"server-{port}.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    folder = tmp / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, folder / NOTEBOOK)
    for _attempt in range(3):  # another process may take the free port first
        proc, base = _start(tmp, folder)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5)
                    break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.25)
            else:
                if proc.poll() is None:
                    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s")
                continue  # it exited: try another port
            yield Lab(base, folder)
            return
        finally:
            _stop(proc)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp.glob("server-*.log"))
    pytest.fail(f"JupyterLab did not start:\n{logs}")


def test_opening_and_saving_in_jupyterlab_leaves_the_notebook_unchanged(lab):
    path = lab.folder / NOTEBOOK
    before = path.read_bytes()
    # What the frontend does: read the notebook, set metadata.kernelspec from the
    # spec of the kernel it starts, and save the whole model back.
    model = lab.request("GET", f"/api/contents/{NOTEBOOK}?type=notebook&content=1")
    spec = lab.request("GET", "/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
    content = model["content"]
    content["metadata"]["kernelspec"] = {
        "name": "python3", "display_name": spec["display_name"], "language": spec["language"]}
    lab.request("PUT", f"/api/contents/{NOTEBOOK}",
                {"type": "notebook", "format": "json", "content": content})
    assert path.read_bytes() == before
    assert check_notebook(path) == []


def test_jupyterlab_has_autosave_off_and_ci_kernels(lab):
    docmanager = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert docmanager["schema"]["properties"]["autosave"]["default"] is False
    tracker = lab.request("GET", "/lab/api/settings/@jupyterlab/notebook-extension:tracker")
    assert tracker["schema"]["properties"]["recordTiming"]["default"] is False
    specs = lab.request("GET", "/api/kernelspecs")
    assert specs["default"] == "python3"
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert spec["display_name"] == KERNEL_DISPLAY_NAME
    env = spec["env"]
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["PYTHONHASHSEED"] == "0"
    assert env["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"


def test_the_lab_kernel_is_the_ci_kernel():
    """lab/kernels/python3 is ipykernel's python3 kernel with the environment of the
    kernels `make golden` and nbval start (less the OpenBLAS variables, which some
    machines set for a reason; OpenBLAS follows OMP_NUM_THREADS when they are unset)."""
    from ipykernel.kernelspec import get_kernel_dict
    spec = json.loads((LAB / "kernels" / "python3" / "kernel.json").read_text())
    native = get_kernel_dict()
    assert spec["display_name"] == native["display_name"] == KERNEL_DISPLAY_NAME
    assert spec["argv"][0] == "python" and spec["argv"][1:] == native["argv"][1:]
    env = spec["env"]
    assert not [k for k in env if k.startswith("OPENBLAS")]
    for key, value in CI_THREAD_ENV.items():
        if not key.startswith("OPENBLAS"):
            assert env.get(key) == value, key
    for key, value in KERNEL_ENV.items():
        if key != "SCALINGLAB_PROGRESS":  # progress bars stay on at the cpu and gpu profiles
            assert env.get(key) == value, key
    # the backend ipykernel picks when MPLBACKEND is unset, as for golden and nbval runs
    assert env["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"
    overrides = json.loads((LAB / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["autosave"] is False
    recipe = (ROOT / "Makefile").read_text().split("\nlab:", 1)[1].split("\n\n", 1)[0]
    for expected in ('JUPYTER_CONFIG_DIR="$(CURDIR)/lab"', 'JUPYTER_PATH="$(CURDIR)/lab',
                     "$(LAB_ARGS)"):
        assert expected in recipe


# -- the form a JupyterLab save writes ------------------------------------------------
def _notebook(**metadata) -> dict:
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata.update(metadata)
    return json.loads(json.dumps(nb))


def test_numbers_are_stored_as_jupyterlab_saves_them():
    # what JupyterLab 4.6 wrote back for these values (the numbers pass through JavaScript)
    seen = {2.0: 2, -0.0: 0, 1e20: 100000000000000000000, 1e21: 1e21, 1e-05: 1e-05, 0.1: 0.1,
            2 ** 60 + 1: 1152921504606847000, 1 / 3: 1 / 3}
    nb = normalise_notebook(_notebook(probe=[list(pair) for pair in seen.items()]))
    for (_, saved), (_, expected) in zip(nb["metadata"]["probe"], seen.items()):
        assert saved == expected and type(saved) is type(expected)
    assert nb["metadata"]["kernelspec"] == KERNELSPEC
    assert normalise_notebook(nb) == nb


def test_write_notebook_writes_what_the_jupyter_server_writes(tmp_path):
    import nbformat
    nb = _notebook(kernelspec=dict(KERNELSPEC), note="naïve → ok")
    path = write_notebook(tmp_path / "a.ipynb", nb)
    text = path.read_text(encoding="utf-8")
    with open(tmp_path / "b.ipynb", "w", encoding="utf-8") as f:
        nbformat.write(nbformat.from_dict(nb), f, version=nbformat.NO_CONVERT)
    assert text == (tmp_path / "b.ipynb").read_text(encoding="utf-8") == notebook_text(nb)
    assert "naïve → ok" in text and text.endswith("}\n")
    assert format_problems(text, json.loads(text)) == []


def test_the_checks_reject_a_notebook_a_save_would_change(fixture_notebooks, tmp_path):
    nb = json.loads((fixture_notebooks / "fixture2020_good.ipynb").read_text())
    path = tmp_path / "fixture2020_good.ipynb"

    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    path.write_text(notebook_text(nb))
    assert any("display_name" in p and "make golden" in p for p in check_notebook(path))

    write_notebook(path, nb)
    assert not [p for p in check_notebook(path) if "JupyterLab" in p or "save" in p]

    normal = normalise_notebook(nb)
    path.write_text(json.dumps(normal, indent=2) + "\n")
    assert any("first difference at line 2" in p for p in check_notebook(path))

    normal["cells"][0]["metadata"]["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    write_notebook(path, normal)
    assert any("run metadata" in p for p in check_notebook(path))

    normal = normalise_notebook(nb)
    normal["metadata"]["value"] = float("nan")  # Python writes NaN; JavaScript cannot read it
    path.write_text(notebook_text(normal))
    assert any("NaN" in p and "cannot open" in p for p in check_notebook(path))
