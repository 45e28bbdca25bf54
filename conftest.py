"""pytest setup shared by the unit tests and the notebook tests (nbval).

Notebook kernels started under pytest inherit this environment: one BLAS thread and a
fixed hash seed, as at the ci profile, no progress bars, and claims compared by value
with the stored ones. The published-data mirror
beside the checkout is used when present, so no test downloads anything."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

for key, value in {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "PYTHONHASHSEED": "0", "SCALINGLAB_PROGRESS": "0",
                   "RAY_USAGE_STATS_ENABLED": "0",
                   # run.finish() at the ci profile compares its claims by value with
                   # those stored in the notebook (scalinglab.repro.stability)
                   "SCALINGLAB_CHECK_STORED_CLAIMS": "1"}.items():
    os.environ.setdefault(key, value)

_mirror = ROOT.parent / "shared" / "mirror"
if "SCALINGLAB_DATA_MIRROR" not in os.environ and (_mirror / "MANIFEST.tsv").exists():
    os.environ["SCALINGLAB_DATA_MIRROR"] = str(_mirror)
