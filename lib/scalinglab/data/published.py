"""Published data files from other repositories, pinned in ``data/remote.yaml``.

    from scalinglab.data.published import fetch, load_csv
    path = fetch("epoch_chinchilla_runs")        # a verified local file
    runs = load_csv("epoch_chinchilla_runs")     # as a DataFrame

Where the bytes come from:

1. ``$SCALINGLAB_DATA_MIRROR`` set: ``<mirror>/github/<owner>/<repo>/<commit>/<path>``
   (or ``<mirror>/<mirror_path>`` for entries derived from source code). A relative
   mirror path is taken from the project root, so ``../shared/mirror`` works from
   any working directory.
2. Otherwise: downloaded once with urllib from the pinned raw URL into
   ``build/data/github/<owner>/<repo>/<commit>/<path>``.

Every load checks the size and sha256 against the registry; a file that differs is
refused with an error naming it and both hashes.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.repro import paths

MIRROR_ENV = "SCALINGLAB_DATA_MIRROR"


class PublishedDataError(ValueError):
    """A registry entry is unknown, unreachable, or its bytes do not match the pin."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    sha256: str
    bytes: int
    repo: str
    commit: str
    licence: str
    description: str
    url: str | None = None
    path: str | None = None
    mirror_path: str | None = None
    source_path: str | None = None
    source_url: str | None = None
    # A transcription committed under data/published/ (with its source in '#' lines),
    # used when neither a mirror nor a public URL holds the file; pinned by its own hash.
    transcription: str | None = None
    transcription_sha256: str | None = None

    @property
    def relative(self) -> str:
        """Where the file sits under a mirror (and under the download cache)."""
        if self.mirror_path:
            return self.mirror_path
        return f"github/{self.repo}/{self.commit}/{self.path}"


def registry_path() -> Path:
    return paths.project_root() / "data" / "remote.yaml"


def registry(path: str | os.PathLike | None = None) -> dict[str, RemoteFile]:
    """All pinned files by name."""
    import yaml
    path = Path(path) if path else registry_path()
    if not path.exists():
        raise PublishedDataError(f"no registry at {paths.display_path(path)}")
    doc = yaml.safe_load(path.read_text()) or {}
    out: dict[str, RemoteFile] = {}
    for entry in doc.get("files", []):
        fields = {k: entry.get(k) for k in RemoteFile.__dataclass_fields__}
        missing = [k for k in ("name", "sha256", "bytes", "repo", "commit", "licence") if fields.get(k) in (None, "")]
        if missing:
            raise PublishedDataError(f"registry entry {entry.get('name')!r} lacks {', '.join(missing)}")
        if not (fields.get("url") and fields.get("path")) and not fields.get("mirror_path"):
            raise PublishedDataError(f"registry entry {fields['name']!r} needs url+path or mirror_path")
        fields["bytes"] = int(fields["bytes"])
        fields["description"] = fields.get("description") or ""
        out[fields["name"]] = RemoteFile(**fields)
    return out


def entry(name: str) -> RemoteFile:
    reg = registry()
    if name not in reg:
        raise PublishedDataError(f"unknown published file {name!r}; known: {', '.join(sorted(reg))}")
    return reg[name]


MIRROR_HINT = (f"set {MIRROR_ENV} to a folder laid out as github/<owner>/<repo>/<commit>/<path> "
               "(see data/published/README.md)")


def mirror_root(root: Path | None = None) -> Path | None:
    """The mirror named by SCALINGLAB_DATA_MIRROR; a relative one is taken from the
    project root (``root`` when given)."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (Path(root) if root else paths.project_root()) / p


def cache_root(root: Path | None = None) -> Path:
    """Where downloads go: ``build/data`` (of ``root`` when given and SCALINGLAB_BUILD is unset)."""
    if root is not None and not os.environ.get("SCALINGLAB_BUILD"):
        return Path(root) / "build" / "data"
    return paths.build_dir() / "data"


def read_path(rf: RemoteFile, root: Path | None = None) -> Path | None:
    """Where :func:`fetch` reads ``rf``: in the mirror when one is set, else its committed
    transcription (a file without a public URL), else the download cache; None when
    there is no such place."""
    mirror = mirror_root(root)
    if mirror is not None:
        return mirror / rf.relative
    if not rf.url and rf.transcription:
        return (Path(root) if root else paths.project_root()) / rf.transcription
    if rf.url:
        return cache_root(root) / rf.relative
    return None


def local_copy(rf: RemoteFile, root: Path | None = None) -> Path | None:
    """The local file that :func:`fetch` reads for ``rf`` when it is present, neither
    checked nor downloaded; None when there is none yet."""
    path = read_path(rf, root)
    return path if path is not None and path.is_file() else None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(rf: RemoteFile, path: Path) -> Path:
    """The path, if its size and sha256 match the pin; else PublishedDataError."""
    size = path.stat().st_size
    digest = sha256_of(path)
    if size != rf.bytes or digest != rf.sha256:
        what = "size and sha256 differ" if size != rf.bytes else "sha256 differs"
        raise PublishedDataError(
            f"{rf.name}: {paths.display_path(path)} does not match its pin ({what}; truncated or "
            f"modified?): expected sha256 {rf.sha256} ({rf.bytes} bytes), got {digest} ({size} bytes)")
    return path


def _download(rf: RemoteFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(rf.url, timeout=60) as resp:
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                out.write(block)
        verify(rf, Path(tmp))
        os.replace(tmp, target)  # atomic: a reader never sees a partial file
    except PublishedDataError:
        os.unlink(tmp)
        raise
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        reason = " ".join(str(reason).split())
        raise PublishedDataError(f"{rf.name}: could not download {rf.url} ({reason}); "
                                 f"{MIRROR_HINT}") from None


def fetch(name: str) -> Path:
    """A verified local copy of the pinned file ``name``."""
    rf = entry(name)
    path = read_path(rf)
    if mirror_root() is not None:
        if not path.exists():
            raise PublishedDataError(f"{name}: not in the mirror {MIRROR_ENV}={os.environ[MIRROR_ENV]} "
                                     f"(looked for {rf.relative}, the layout is "
                                     "github/<owner>/<repo>/<commit>/<path>)")
        return verify(rf, path)
    if not rf.url and rf.transcription:
        return _verified_transcription(rf)
    if not rf.url:
        raise PublishedDataError(f"{name} has no public URL (a table transcribed from "
                                 f"{rf.source_url or rf.repo}); set {MIRROR_ENV} to a mirror that holds "
                                 f"{rf.relative}")
    if not path.exists():
        _download(rf, path)
    return verify(rf, path)


def _verified_transcription(rf: RemoteFile) -> Path:
    path = paths.project_root() / rf.transcription
    if not path.exists():
        raise PublishedDataError(f"{rf.name}: the transcription {rf.transcription} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if rf.transcription_sha256 and digest != rf.transcription_sha256:
        raise PublishedDataError(f"{rf.name}: {rf.transcription} has sha256 {digest}, "
                                 f"the registry pins {rf.transcription_sha256}")
    return path


def load_csv(name: str, **read_csv_kwargs: Any):
    """The pinned file ``name`` read with ``pandas.read_csv``."""
    import pandas as pd
    path = fetch(name)
    if entry(name).transcription and path == paths.project_root() / entry(name).transcription:
        read_csv_kwargs.setdefault("comment", "#")  # the transcription's source lines
    return pd.read_csv(path, **read_csv_kwargs)


def describe(name: str) -> str:
    """One line for a notebook: what the file is and where it is pinned."""
    rf = entry(name)
    where = f"{rf.repo}@{rf.commit[:10]}/{rf.path or rf.source_path}"
    return f"{rf.name}: {rf.description} [{where}, sha256 {rf.sha256[:12]}…, licence: {rf.licence}]"


def epoch_chinchilla_runs(drop_outliers: bool = True):
    """The Chinchilla runs digitised by Besiroglu et al. 2024 (Epoch AI) from Hoffmann
    et al. 2022, Fig. 4, as columns ``N`` (parameters), ``C`` (training FLOPs),
    ``D = C / (6N)`` (tokens) and ``loss``. With ``drop_outliers`` the 5 highest-loss
    runs are removed, leaving the 240 points of Epoch's main fit (their notebook's rule)."""
    raw = load_csv("epoch_chinchilla_runs")
    df = raw.rename(columns={"Model Size": "N", "Training FLOP": "C"})[["N", "C", "loss"]].copy()
    df["D"] = df["C"] / (6.0 * df["N"])
    if drop_outliers:
        df = df.drop(index=df["loss"].nlargest(5).index)
    return df.reset_index(drop=True)
