"""The Jupyter configuration of `make lab` (JUPYTER_CONFIG_DIR and JUPYTER_PATH name this
folder, so the user's own Jupyter configuration does not apply).

A run-all at the ci profile in JupyterLab prints the numbers stored in notebooks/, and
opening or saving a notebook leaves no diff there:

* kernels/python3/kernel.json: the python3 kernel (ipykernel, the same display name, so
  JupyterLab writes the kernelspec the stored notebooks hold) started with the
  environment of the ci profile's kernels: one OpenMP/MKL thread (OpenBLAS follows
  OMP_NUM_THREADS; OPENBLAS_* variables a machine sets are left as they are),
  PYTHONHASHSEED=0, and the inline matplotlib backend that papermill's and nbval's
  kernels use;
* labconfig/default_setting_overrides.json: no autosave (a notebook is written only when
  saved by hand) and no execution timing in cell metadata;
* this file: JupyterLab's user settings and workspaces under build/jupyter/, outside
  notebooks/ and the home folder;
* migrated: the marker by which Jupyter knows not to copy an old ~/.ipython
  configuration into this folder.
"""
from pathlib import Path

c = get_config()  # noqa: F821 (provided by the configuration loader)

_build = Path(__file__).resolve().parents[1] / "build" / "jupyter"
c.LabApp.user_settings_dir = str(_build / "user-settings")
c.LabApp.workspaces_dir = str(_build / "workspaces")
