"""Progress bars that keep stored notebook outputs clean.

tqdm.auto picks a widget bar inside Jupyter and warns ("IProgress not found") when
ipywidgets is absent; that warning would land in every stored output. A disabled bar
is the plain one, and an enabled bar falls back to text without the warning."""
from __future__ import annotations

import os
import warnings


def progress_enabled(default: bool = True) -> bool:
    """False when SCALINGLAB_PROGRESS=0 (the runner and the tests set it)."""
    return default and os.environ.get("SCALINGLAB_PROGRESS", "1") != "0"


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    if not enabled:
        from tqdm.std import tqdm
        return tqdm(iterable, disable=True, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm
        return tqdm(iterable, **kwargs)
