"""Token corpora for language-model training, and the offline natural corpus.

A :class:`TokenCorpus` is two token arrays (train and held-out) with a vocabulary size;
training draws random windows from the train array, evaluation uses a fixed set of
windows of the held-out array, the same for every run.

The offline corpus needs no download: it is the Python source of pure-Python packages
pinned in ``requirements.txt`` and installed with the environment, as bytes (vocabulary
256). Every machine with the pinned versions builds the same bytes:

* the packages' files are read from their installed RECORD (the file list pip wrote),
  each file checked against the sha256 in that RECORD, in sorted order;
* a file's bytes are followed by one NUL byte (0x00 never occurs in Python source),
  which marks the document boundary;
* every 20th file (sorted index 19, 39, ...) goes to the held-out split;
* a manifest records the packages, versions, file counts, bytes and sha256 of each
  package's files and of the two splits.

The build refuses to run when an installed version differs from its pin. It is written
once, atomically, under ``build/corpora/<name>-<spec hash>/`` and memory-mapped after.

    corpus = load_corpus("pysrc")             # builds on first use (a progress bar)
    x, y = corpus.train_batch(32, 128, rng)   # int64 tensors (batch, context)
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
SEPARATOR = b"\x00"
HELD_OUT_EVERY = 20  # every 20th file is held out (5%)
LIMIT_PIECES = 64  # a data-limited run takes its tokens in this many pieces spread over the corpus

# Pure-Python distributions pinned in requirements.txt whose source makes the offline
# corpus. The versions must equal the pins (tests/test_corpus.py checks it).
SMALL_PACKAGES = {
    "datasets": "5.2.0",
    "ipykernel": "7.4.0",
    "jupyterlab": "4.6.6",
    "myst-nb": "1.4.0",
    "nbclient": "0.11.0",
    "nbformat": "5.11.1",
    "nbval": "0.11.0",
    "papermill": "2.7.0",
    "pytest": "9.2.0",
    "PyYAML": "6.0.3",
    "seaborn": "0.13.2",
    "sphinx": "9.0.4",
    "tqdm": "4.70.1",
}
CORPORA: dict[str, dict[str, str]] = {
    # ~9.5 MB: the default, enough for the cpu profile's models
    "pysrc": SMALL_PACKAGES,
    # ~62 MB: adds transformers' source, for GPU-sized runs
    "pysrc-large": {**SMALL_PACKAGES, "transformers": "5.23.0"},
}


class CorpusError(ValueError):
    """The corpus cannot be built or loaded as asked (a one-line reason)."""


# -- the corpus object ---------------------------------------------------------------

@dataclass
class TokenCorpus:
    """Train and held-out token arrays.

    ``segment_length``: when set, the arrays are made of independent documents of that
    many tokens each (synthetic sources) and no window crosses a document boundary.
    ``bytes_per_token`` turns nats per token into bits per byte (None when tokens are
    not bytes of text). ``entropy_rate`` is the true loss floor in nats per token when
    the source is known (synthetic sources)."""

    name: str
    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    bytes_per_token: float | None = 1.0
    segment_length: int | None = None
    entropy_rate: float | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.train.ndim != 1 or self.val.ndim != 1:
            raise CorpusError("train and val must be 1-d token arrays")

    def __repr__(self) -> str:
        return (f"TokenCorpus({self.name!r}, train={len(self.train):,} tokens, "
                f"held-out={len(self.val):,} tokens, vocab={self.vocab_size})")

    # -- windows -----------------------------------------------------------------------
    def _starts(self, n_tokens: int, context: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """Random window starts (each window is context + 1 tokens long)."""
        span = context + 1
        if self.segment_length is None:
            if n_tokens < span:
                raise CorpusError(f"{self.name}: {n_tokens} tokens cannot hold a window of {span}")
            return rng.integers(0, n_tokens - span + 1, size=count)
        seg = self.segment_length
        if seg < span:
            raise CorpusError(f"{self.name}: documents of {seg} tokens cannot hold a window of {span}")
        n_segments = n_tokens // seg
        if n_segments < 1:
            raise CorpusError(f"{self.name}: {n_tokens} tokens hold no full document of {seg}")
        # A window lies inside one document; a partial last document is used up to its end
        # only through whole windows of the documents before it.
        segment = rng.integers(0, n_segments, size=count)
        return segment * seg + rng.integers(0, seg - span + 1, size=count)

    def limited_pieces(self, limit: int, context: int) -> tuple[np.ndarray, int]:
        """Where a data-limited run's ``limit`` training tokens lie: (piece starts, piece
        length). The tokens are taken as ``LIMIT_PIECES`` equal pieces spread evenly over
        the training split (whole documents for a corpus of documents), so that a small
        subset samples the whole corpus rather than its first files."""
        span = context + 1
        if self.segment_length is not None:
            seg = self.segment_length
            n_segments = len(self.train) // seg
            count = max(1, min(n_segments, int(limit) // seg))
            index = np.linspace(0, n_segments - 1, num=count).round().astype(np.int64)
            return np.unique(index) * seg, seg
        length = max(span, int(limit) // LIMIT_PIECES)
        count = max(1, min(LIMIT_PIECES, int(limit) // length))
        last = len(self.train) - length
        if last < 0:
            raise CorpusError(f"{self.name}: {len(self.train)} tokens cannot hold a window of {span}")
        return np.linspace(0, last, num=count).round().astype(np.int64), length

    def distinct_tokens(self, limit: int | None, context: int) -> int:
        """How many distinct training tokens a run with this ``limit`` can see."""
        if limit is None or limit >= len(self.train):
            return len(self.train)
        starts, length = self.limited_pieces(limit, context)
        return len(starts) * length

    def train_batch(self, batch_size: int, context: int, rng: np.random.Generator,
                    limit: int | None = None):
        """(inputs, targets) int64 tensors of shape (batch_size, context), drawn from the
        whole training split, or from ``limit`` tokens of it (see :meth:`limited_pieces`)."""
        import torch
        if limit is None or limit >= len(self.train):
            starts = self._starts(len(self.train), context, batch_size, rng)
        else:
            pieces, length = self.limited_pieces(limit, context)
            if length < context + 1:
                raise CorpusError(f"{self.name}: pieces of {length} tokens cannot hold a window of {context + 1}")
            which = rng.integers(0, len(pieces), size=batch_size)
            starts = pieces[which] + rng.integers(0, length - context, size=batch_size)
        windows = self.train[starts[:, None] + np.arange(context + 1)]
        windows = torch.from_numpy(windows.astype(np.int64))
        return windows[:, :-1], windows[:, 1:]

    def eval_windows(self, context: int, n_windows: int):
        """A fixed set of held-out windows, evenly spaced through the held-out split:
        the same for every run with this context, whatever its seed."""
        import torch
        span = context + 1
        if self.segment_length is None:
            last = len(self.val) - span
            if last < 0:
                raise CorpusError(f"{self.name}: held-out split too short for context {context}")
            starts = np.linspace(0, last, num=n_windows).round().astype(np.int64)
        else:
            seg = self.segment_length
            n_segments = len(self.val) // seg
            per_segment = max(1, -(-n_windows // max(n_segments, 1)))
            offsets = np.linspace(0, seg - span, num=per_segment).round().astype(np.int64)
            starts = (np.arange(n_segments)[:, None] * seg + offsets[None, :]).reshape(-1)[:n_windows]
            if len(starts) < n_windows:
                raise CorpusError(f"{self.name}: held-out split holds only {len(starts)} windows of {span}")
        windows = torch.from_numpy(self.val[starts[:, None] + np.arange(span)].astype(np.int64))
        return windows[:, :-1], windows[:, 1:]


# -- building the offline corpus -------------------------------------------------------

def _record_sha256(entry: metadata.PackagePath) -> str | None:
    """The sha256 a RECORD line gives for a file, as hex (None when it has none)."""
    if entry.hash is None or entry.hash.mode != "sha256":
        return None
    raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
    return raw.hex()


def source_files(distribution: str, version: str) -> list[tuple[str, Path, str | None]]:
    """(name in the corpus, installed path, RECORD sha256) of the ``.py`` files of an
    installed distribution, sorted; refuses a version other than ``version``."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise CorpusError(f"the corpus needs {distribution}=={version}, which is not installed "
                          f"(pip install {distribution}=={version})") from None
    if dist.version != version:
        raise CorpusError(f"the corpus needs {distribution}=={version} (pinned in requirements.txt) "
                          f"but {dist.version} is installed; install the pinned version")
    files = []
    for entry in dist.files or []:
        posix = entry.as_posix()
        if not posix.endswith(".py") or posix.startswith("..") or "__pycache__" in posix:
            continue
        files.append((posix, Path(entry.locate()), _record_sha256(entry)))
    if not files:
        raise CorpusError(f"{distribution}=={version} lists no Python files in its RECORD")
    return sorted(files)


def spec_hash(name: str, packages: dict[str, str]) -> str:
    spec = {"format": FORMAT_VERSION, "name": name, "packages": sorted(packages.items()),
            "held_out_every": HELD_OUT_EVERY, "separator": SEPARATOR.hex()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def corpus_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    if name not in CORPORA:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    if root is None:
        from scalinglab.base.paths import build_dir
        root = build_dir() / "corpora"
    return Path(root) / f"{name}-{spec_hash(name, CORPORA[name])}"



def publish_folder(tmp: Path, target: Path, manifest: dict) -> None:
    """Write ``manifest.json`` into the finished folder ``tmp`` and move it to ``target``
    in one rename, so readers never see a half-built corpus. If another process built
    the same corpus at the same time, theirs is kept."""
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    try:
        os.rename(tmp, target)
    except OSError:
        if not (target / "manifest.json").exists():
            raise

def build_corpus(name: str = "pysrc", root: str | os.PathLike | None = None,
                 progress: bool = True, force: bool = False) -> Path:
    """Build the offline corpus ``name`` (see the module docstring) and return its folder.
    A built corpus is left as it is unless ``force``."""
    target = corpus_dir(name, root)
    if (target / "manifest.json").exists() and not force:
        return target
    packages = CORPORA[name]
    # Check every version before reading anything, so a mismatch fails at once.
    listing = [(dist, version, source_files(dist, version)) for dist, version in sorted(
        packages.items(), key=lambda kv: kv[0].lower())]
    everything = [(dist, path_name, path, sha) for dist, _, files in listing
                  for path_name, path, sha in files]

    from scalinglab.base.progress import progress_bar
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        train_hash, val_hash = hashlib.sha256(), hashlib.sha256()
        per_package: dict[str, dict[str, Any]] = {
            dist: {"name": dist, "version": version, "files": 0, "bytes": 0, "_h": hashlib.sha256()}
            for dist, version, _ in listing}
        counts = {"train": [0, 0], "val": [0, 0]}  # files, bytes
        with open(tmp / "train.bin", "wb") as train_out, open(tmp / "val.bin", "wb") as val_out:
            for index, (dist, path_name, path, sha) in enumerate(
                    progress_bar(everything, enabled=progress, desc=f"building corpus {name}", unit="file")):
                data = path.read_bytes()
                if sha is not None and hashlib.sha256(data).hexdigest() != sha:
                    raise CorpusError(f"{dist}: {path_name} differs from the file pip installed "
                                      "(its sha256 does not match the RECORD); reinstall the package")
                if SEPARATOR in data:
                    raise CorpusError(f"{dist}: {path_name} holds a NUL byte, the document separator")
                split = "val" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"
                out, h = (val_out, val_hash) if split == "val" else (train_out, train_hash)
                out.write(data + SEPARATOR)
                h.update(data + SEPARATOR)
                counts[split][0] += 1
                counts[split][1] += len(data) + 1
                pkg = per_package[dist]
                pkg["files"] += 1
                pkg["bytes"] += len(data)
                pkg["_h"].update(path_name.encode() + b"\x00" + data)
        packages_out = []
        for pkg in per_package.values():
            pkg["sha256"] = pkg.pop("_h").hexdigest()
            packages_out.append(pkg)
        manifest = {
            "name": name, "format": FORMAT_VERSION, "spec": spec_hash(name, packages),
            "tokenizer": "bytes (vocabulary 256); 0x00 ends each file",
            "held_out": f"every {HELD_OUT_EVERY}th file in sorted order",
            "packages": packages_out,
            "train": {"files": counts["train"][0], "bytes": counts["train"][1], "sha256": train_hash.hexdigest()},
            "val": {"files": counts["val"][0], "bytes": counts["val"][1], "sha256": val_hash.hexdigest()},
        }
        if force and target.exists():
            shutil.rmtree(target)
        publish_folder(tmp, target, manifest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_corpus(name: str = "pysrc", root: str | os.PathLike | None = None,
                progress: bool = True) -> TokenCorpus:
    """The offline corpus ``name``, memory-mapped (built first when missing)."""
    folder = build_corpus(name, root, progress=progress)
    manifest = json.loads((folder / "manifest.json").read_text())
    arrays = {}
    for split in ("train", "val"):
        path = folder / f"{split}.bin"
        size = path.stat().st_size
        if size != manifest[split]["bytes"]:
            raise CorpusError(f"{path.name} of corpus {name} has {size} bytes, the manifest says "
                              f"{manifest[split]['bytes']}; delete {folder.name} to rebuild it")
        arrays[split] = np.memmap(path, dtype=np.uint8, mode="r")
    return TokenCorpus(name=name, train=arrays["train"], val=arrays["val"], vocab_size=256,
                       bytes_per_token=1.0, manifest=manifest)


def verify_corpus(name: str = "pysrc", root: str | os.PathLike | None = None) -> bool:
    """Re-hash a built corpus against its manifest."""
    folder = corpus_dir(name, root)
    manifest = json.loads((folder / "manifest.json").read_text())
    for split in ("train", "val"):
        h = hashlib.sha256()
        with open(folder / f"{split}.bin", "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != manifest[split]["sha256"]:
            return False
    return True


__all__ = ["TokenCorpus", "CorpusError", "CORPORA", "build_corpus", "load_corpus", "corpus_dir",
           "source_files", "verify_corpus", "spec_hash"]
