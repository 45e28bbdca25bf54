"""Real text corpora from the Hugging Face hub (TinyStories, FineWeb-Edu, ...), as bytes.

For users with a network: the documents stream through the ``datasets`` package, are
encoded as UTF-8 bytes with a NUL byte after each document (the offline corpus's
format), every 20th document is held out, and the result is stored once under
``build/corpora/hub-...`` as memory-mapped files with a manifest.

    corpus = load_hub_corpus("tinystories", max_bytes=50_000_000)
    corpus = load_hub_corpus("HuggingFaceFW/fineweb-edu", name="sample-10BT", max_bytes=200_000_000)
    corpus = load_hub_corpus("json", data_files="my_texts.jsonl")      # local files work too

``path`` is a preset name, a hub dataset id, or a ``datasets`` builder for local files
("json", "text", "csv", "parquet") with ``data_files``. Nothing here runs at import.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.data.corpus import HELD_OUT_EVERY, SEPARATOR, CorpusError, TokenCorpus, publish_folder

PRESETS: dict[str, dict[str, Any]] = {
    # Eldan & Li 2023 (arXiv 2305.07759): short stories in simple English
    "tinystories": {"path": "roneneldan/TinyStories", "split": "train", "text_field": "text"},
    # a 10B-token sample of FineWeb-Edu
    "fineweb-edu-10bt": {"path": "HuggingFaceFW/fineweb-edu", "name": "sample-10BT",
                         "split": "train", "text_field": "text"},
}
LOCAL_BUILDERS = ("json", "text", "csv", "parquet")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "corpus"


def _spec(path: str, name: str | None, split: str, text_field: str, max_bytes: int | None,
          data_files: Any, revision: str | None) -> dict[str, Any]:
    spec = {"path": path, "name": name, "split": split, "text_field": text_field,
            "max_bytes": max_bytes, "revision": revision, "held_out_every": HELD_OUT_EVERY}
    if data_files is not None:
        files = [data_files] if isinstance(data_files, (str, os.PathLike)) else list(data_files)
        # a local file is identified by its content, not by where it lies
        spec["data_files"] = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]
    return spec


def load_hub_corpus(path: str, name: str | None = None, *, split: str | None = None,
                    text_field: str | None = None, max_bytes: int | None = 50_000_000,
                    data_files: Any = None, revision: str | None = None,
                    root: str | os.PathLike | None = None, progress: bool = True) -> TokenCorpus:
    """Stream a text dataset into a byte corpus (built once, then memory-mapped).

    ``max_bytes`` caps the bytes read (whole documents only; None reads everything)."""
    preset = PRESETS.get(path.lower(), {}) if name is None and data_files is None else {}
    path = preset.get("path", path)
    name = preset.get("name", name)
    split = split or preset.get("split", "train")
    text_field = text_field or preset.get("text_field", "text")
    if path in LOCAL_BUILDERS and data_files is None:
        raise CorpusError(f"the {path!r} builder reads local files: pass data_files=")
    if max_bytes is not None and (isinstance(max_bytes, bool) or int(max_bytes) < 1):
        raise CorpusError(f"max_bytes={max_bytes!r} must be a positive number of bytes or None")
    spec = _spec(path, name, split, text_field, max_bytes, data_files, revision)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]
    if root is None:
        from scalinglab.base.paths import build_dir
        root = build_dir() / "corpora"
    folder = Path(root) / f"hub-{_slug(path if data_files is None else path + '-local')}-{digest}"
    if not (folder / "manifest.json").exists():
        _build(folder, spec, path, name, split, text_field, max_bytes, data_files, revision, progress)
    manifest = json.loads((folder / "manifest.json").read_text())
    train = np.memmap(folder / "train.bin", dtype=np.uint8, mode="r")
    val = np.memmap(folder / "val.bin", dtype=np.uint8, mode="r")
    return TokenCorpus(name=folder.name, train=train, val=val, vocab_size=256,
                       bytes_per_token=1.0, manifest=manifest)


def _documents(path, name, split, text_field, data_files, revision):
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is pinned in requirements.txt
        raise CorpusError("loading hub corpora needs the `datasets` package") from None
    kwargs = {"split": split, "streaming": True}
    if name is not None:
        kwargs["name"] = name
    if data_files is not None:
        kwargs["data_files"] = ([os.fspath(data_files)] if isinstance(data_files, (str, os.PathLike))
                                else [os.fspath(f) for f in data_files])
    if revision is not None:
        kwargs["revision"] = revision
    try:
        stream = datasets.load_dataset(path, **kwargs)
    except Exception as exc:  # network, unknown dataset, bad file: one clear line
        raise CorpusError(f"could not open dataset {path!r}"
                          f"{f' ({name})' if name else ''}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    for row in stream:
        if text_field not in row:
            raise CorpusError(f"dataset {path!r} has no field {text_field!r}; fields: {', '.join(row)}")
        yield row[text_field]


def _build(folder: Path, spec, path, name, split, text_field, max_bytes, data_files, revision,
           progress: bool) -> None:
    from scalinglab.base.progress import progress_bar
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        hashes = {"train": hashlib.sha256(), "val": hashlib.sha256()}
        counts = {"train": [0, 0], "val": [0, 0]}
        total = 0
        bar = progress_bar(enabled=progress, total=max_bytes, desc=f"reading {path}", unit="B",
                           unit_scale=True)
        with open(tmp / "train.bin", "wb") as train_out, open(tmp / "val.bin", "wb") as val_out:
            for index, text in enumerate(_documents(path, name, split, text_field, data_files, revision)):
                data = (text or "").encode("utf-8").replace(SEPARATOR, b"") + SEPARATOR
                if max_bytes is not None and total + len(data) > max_bytes:
                    break
                part = "val" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"
                (val_out if part == "val" else train_out).write(data)
                hashes[part].update(data)
                counts[part][0] += 1
                counts[part][1] += len(data)
                total += len(data)
                bar.update(len(data))
        bar.close()
        if counts["train"][1] == 0 or counts["val"][1] == 0:
            raise CorpusError(f"dataset {path!r} gave too little text for a train and a held-out split "
                              f"({counts['train'][0] + counts['val'][0]} documents)")
        manifest = {"source": "hub", **spec,
                    "tokenizer": "UTF-8 bytes (vocabulary 256); 0x00 ends each document",
                    "held_out": f"every {HELD_OUT_EVERY}th document in stream order",
                    "train": {"documents": counts["train"][0], "bytes": counts["train"][1],
                              "sha256": hashes["train"].hexdigest()},
                    "val": {"documents": counts["val"][0], "bytes": counts["val"][1],
                            "sha256": hashes["val"].hexdigest()}}
        publish_folder(tmp, folder, manifest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["PRESETS", "load_hub_corpus"]
