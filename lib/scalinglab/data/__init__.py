"""Data: token corpora for training (offline, synthetic, hub) and published data.

Submodules load on first use, so importing ``scalinglab.data`` is cheap and modules
beside these (``zipf``, ``published``, ...) are imported only when asked for:

    from scalinglab.data import load_corpus, ZipfMarkovSource, load_hub_corpus
    from scalinglab.data.zipf import ...
"""
from __future__ import annotations

import importlib

_LAZY = {
    "TokenCorpus": "corpus", "CorpusError": "corpus", "CORPORA": "corpus",
    "build_corpus": "corpus", "load_corpus": "corpus",
    "ZipfMarkovSource": "synthetic",
    "load_hub_corpus": "hub",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
