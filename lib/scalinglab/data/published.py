"""Published data files from other repositories, pinned in ``data/remote.yaml``.

    from scalinglab.data.published import fetch, load_csv
    path = fetch("epoch_chinchilla_runs")        # a verified local file
    runs = load_csv("epoch_chinchilla_runs")     # as a DataFrame

The registry is the checkout's ``data/remote.yaml`` when the library runs from one;
a package built from the checkout (a wheel) carries a copy of that file and of the
committed transcriptions (``data/published/``), taken at build time, under
``scalinglab/bundled/data/``, so an installed scalinglab pins the same files.

Where the bytes come from:

1. ``$SCALINGLAB_DATA_MIRROR`` set: ``<mirror>/github/<owner>/<repo>/<commit>/<path>``
   (or ``<mirror>/<mirror_path>`` for entries derived from source code), read in place.
   A relative mirror path is taken from the project root, so ``../shared/mirror``
   works from any working directory.
2. Otherwise: downloaded once with ``pooch`` from the pinned raw URL into the download
   cache, at ``github/<owner>/<repo>/<commit>/<path>`` under it: ``$SCALINGLAB_DATA_CACHE``
   when set; else the checkout's ``build/data`` (``$SCALINGLAB_BUILD/data``); else, for
   an installed package, the platform's per-user cache folder (``~/.cache/scalinglab/data``
   on Linux). pooch writes to a temporary file beside the target and moves it into place
   only when its sha256 matches the pin, so a failed or altered download never leaves a
   file that a later call would take.

Every load checks the size and sha256 against the registry; a file that differs is
refused with a one-line error naming it and both (short) hashes. Files are only ever
read as bytes or CSV text, never unpickled. pooch (and requests) are imported only
when a download is needed.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.base import paths

MIRROR_ENV = "SCALINGLAB_DATA_MIRROR"
CACHE_ENV = "SCALINGLAB_DATA_CACHE"
# What a built package carries: data/remote.yaml and data/published/, copied by setup.py
# at build time (the checkout's files stay the only source).
BUNDLED_ROOT = paths.PACKAGE_DIR / "bundled"
DOWNLOAD_TIMEOUT_S = 60  # seconds to connect, and between bytes while reading


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


def data_root() -> Path:
    """The folder whose ``data/remote.yaml`` is the registry (and whose ``data/published/``
    holds the transcriptions): the checkout the library runs from, else the copy built
    into the package."""
    return paths.checkout_root() or BUNDLED_ROOT


def registry_path() -> Path:
    return data_root() / "data" / "remote.yaml"


_REGISTRY_CACHE: dict[tuple[str, int, int], dict[str, "RemoteFile"]] = {}


def registry(path: str | os.PathLike | None = None) -> dict[str, RemoteFile]:
    """All pinned files by name. The parsed registry is kept per (file, size, mtime), so
    a notebook that loads many files parses ``remote.yaml`` once, and an edited file is
    read again."""
    path = Path(path) if path else registry_path()
    if not path.exists():
        if BUNDLED_ROOT in path.parents:
            raise PublishedDataError("this scalinglab package was built without its registry "
                                     "(scalinglab/bundled/data/remote.yaml); build it from a checkout "
                                     "with `pip install .` or `pip wheel .`")
        raise PublishedDataError(f"no registry at {paths.display_path(path)}")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _REGISTRY_CACHE:
        _REGISTRY_CACHE[key] = _parse_registry(path)
    return dict(_REGISTRY_CACHE[key])


def _parse_registry(path: Path) -> dict[str, RemoteFile]:
    import yaml
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
    """Where downloads go: ``$SCALINGLAB_DATA_CACHE`` when set (a relative one is taken
    from the project root); else ``build/data`` of the checkout (of ``root`` when given),
    or ``$SCALINGLAB_BUILD/data``; else, for an installed package, the platform's
    per-user cache folder (``~/.cache/scalinglab/data`` on Linux, ``~/Library/Caches``
    on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (Path(root) if root else paths.project_root()) / p
    if root is not None and not os.environ.get("SCALINGLAB_BUILD"):
        return Path(root) / "build" / "data"
    if os.environ.get("SCALINGLAB_BUILD") or paths.checkout_root() is not None:
        return paths.build_dir() / "data"
    return user_cache_root()


def user_cache_root() -> Path:
    """The platform's per-user cache folder for scalinglab's downloads."""
    import platformdirs
    return Path(platformdirs.user_cache_dir("scalinglab", appauthor=False)) / "data"


def transcription_path(rf: RemoteFile, root: Path | None = None) -> Path | None:
    """The committed transcription of ``rf`` (None when it has none), in the checkout
    (``root`` when given) or in the copy built into the package."""
    if not rf.transcription:
        return None
    return (Path(root) if root else data_root()) / rf.transcription


def read_path(rf: RemoteFile, root: Path | None = None) -> Path | None:
    """Where :func:`fetch` reads ``rf``: in the mirror when one is set, else its committed
    transcription (a file without a public URL), else the download cache; None when
    there is no such place."""
    mirror = mirror_root(root)
    if mirror is not None:
        return mirror / rf.relative
    if not rf.url and rf.transcription:
        return transcription_path(rf, root)
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


def short_hash(digest: str) -> str:
    """The first 12 hex digits of a sha256, as the errors print it."""
    return digest[:12]


def _mismatch(rf: RemoteFile, path: Path) -> tuple[str, int, str] | None:
    """(what differs, size, sha256) when ``path`` does not match the pin, else None."""
    size = path.stat().st_size
    digest = sha256_of(path)
    if size == rf.bytes and digest == rf.sha256:
        return None
    return ("size and sha256 differ" if size != rf.bytes else "sha256 differs"), size, digest


def _mismatch_message(rf: RemoteFile, where: str, what: str, size: int, digest: str, after: str) -> str:
    return (f"{rf.name}: {where} does not match its pin ({what}; truncated or modified?): expected "
            f"sha256 {short_hash(rf.sha256)} ({rf.bytes} bytes), got {short_hash(digest)} ({size} bytes)"
            + (f"; {after}" if after else ""))


def verify(rf: RemoteFile, path: Path, where: str | None = None, after: str = "") -> Path:
    """The path, if its size and sha256 match the pin; else a one-line PublishedDataError
    naming the file (as ``where``, else its path from the project root) and both short
    hashes, ending with ``after`` (what became of the file)."""
    bad = _mismatch(rf, path)
    if bad:
        raise PublishedDataError(_mismatch_message(rf, where or paths.display_path(path), *bad, after))
    return path


def _cache_shown(rf: RemoteFile, path: Path) -> str:
    """A cached file as errors name it: under $SCALINGLAB_DATA_CACHE, from the checkout's
    root, under $SCALINGLAB_BUILD, or (the per-user cache of an installed package) its
    path with ``~`` for the home folder."""
    if os.environ.get(CACHE_ENV, "").strip():
        return f"${CACHE_ENV}/{rf.relative}"
    if os.environ.get("SCALINGLAB_BUILD") or paths.checkout_root() is not None:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(paths.project_root().resolve()))
        return f"$SCALINGLAB_BUILD/data/{rf.relative}"
    with contextlib.suppress(ValueError, RuntimeError):
        return str(Path("~") / path.relative_to(Path.home()))
    return str(path)


def _verified_cached(rf: RemoteFile, path: Path) -> Path:
    """The cached download, if it still matches its pin. One that does not (altered since:
    a download is moved into place only once verified) is removed, so the next fetch
    downloads it again, and refused."""
    bad = _mismatch(rf, path)
    if not bad:
        return path
    where = f"the cached copy {_cache_shown(rf, path)}"
    try:
        path.unlink()
        after = "the cached copy was removed and not used; fetch again to download it afresh"
    except OSError as exc:
        after = f"the cached copy was not used but could not be removed ({_one_line(exc.strerror or exc)})"
    raise PublishedDataError(_mismatch_message(rf, where, *bad, after))


def _one_line(text: Any) -> str:
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*", "", str(text))
    return " ".join(text.split())


def _download_reason(exc: BaseException) -> str:
    """The cause of a failed download in a few words, from requests' and urllib3's
    exception chain (the socket error where there is one)."""
    import requests
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    if isinstance(exc, requests.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.Timeout):
        return "timed out reading"
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        e = queue.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror and not isinstance(e, requests.RequestException):
            return e.strerror
        if type(e).__name__ == "IncompleteRead" and hasattr(e, "partial"):
            return f"connection closed early ({_one_line(e)})"
        queue += [getattr(e, "reason", None), e.__cause__, e.__context__]
        queue += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return _one_line(exc) or type(exc).__name__


def _progress() -> bool:
    """A progress bar only for a person at a terminal: never under pytest or in a notebook."""
    return sys.stderr.isatty() and "PYTEST_CURRENT_TEST" not in os.environ


@contextlib.contextmanager
def _quiet_pooch(logger: logging.Logger):
    """pooch logs each download at INFO on stderr; keep notebooks' outputs as they were."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(rf: RemoteFile, target: Path) -> None:
    """Download ``rf`` into ``target`` with pooch: to a temporary file in the same folder,
    moved into place only when its sha256 matches the pin. Every failure is one line."""
    try:
        import pooch
        import requests
    except ImportError as exc:  # pragma: no cover - pooch is a dependency
        raise PublishedDataError(f"{rf.name}: downloading needs pooch ({exc}); pip install pooch, or "
                                 f"{MIRROR_HINT}") from None
    http = pooch.HTTPDownloader(progressbar=_progress(), timeout=DOWNLOAD_TIMEOUT_S)
    got: dict[str, Any] = {}

    def downloader(url: str, output_file: Any, pooch_: Any) -> None:
        http(url, output_file, pooch_)
        if isinstance(output_file, (str, os.PathLike)):  # what pooch is about to hash
            got["size"] = os.path.getsize(output_file)
            got["sha256"] = sha256_of(Path(output_file))

    try:
        with _quiet_pooch(pooch.get_logger()):
            pooch.retrieve(rf.url, known_hash=f"sha256:{rf.sha256}", fname=target.name,
                           path=target.parent, downloader=downloader, progressbar=False)
    except requests.RequestException as exc:
        raise PublishedDataError(_no_download(rf, _download_reason(exc))) from None
    except ValueError as exc:
        if "sha256" not in got:  # not pooch's hash check: a URL it cannot handle
            raise PublishedDataError(_no_download(rf, _one_line(exc))) from None
        what = "size and sha256 differ" if got["size"] != rf.bytes else "sha256 differs"
        raise PublishedDataError(_mismatch_message(
            rf, f"the download from {rf.url}", what, got["size"], got["sha256"],
            "it was deleted, nothing was kept in the cache")) from None
    except OSError as exc:  # the cache folder cannot be written
        reason = _one_line(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else exc)
        raise PublishedDataError(_no_download(rf, reason)) from None


def _no_download(rf: RemoteFile, reason: str) -> str:
    return (f"{rf.name}: cannot download {rf.url}: {reason}; set {MIRROR_ENV} to a folder holding "
            f"{rf.relative} (layout: data/published/README.md), or connect and try again")


def fetch(name: str) -> Path:
    """A verified local copy of the pinned file ``name``."""
    rf = entry(name)
    path = read_path(rf)
    if mirror_root() is not None:
        if not path.exists():
            raise PublishedDataError(f"{name}: not in the mirror {MIRROR_ENV}={os.environ[MIRROR_ENV]} "
                                     f"(looked for {rf.relative}, the layout is "
                                     "github/<owner>/<repo>/<commit>/<path>)")
        return verify(rf, path, f"${MIRROR_ENV}/{rf.relative}", "the mirror copy is left as it is and not used")
    if not rf.url and rf.transcription:
        return _verified_transcription(rf)
    if not rf.url:
        raise PublishedDataError(f"{name} has no public URL (a table transcribed from "
                                 f"{rf.source_url or rf.repo}); set {MIRROR_ENV} to a mirror that holds "
                                 f"{rf.relative}")
    if path.exists():
        return _verified_cached(rf, path)
    _download(rf, path)
    return verify(rf, path, f"the download {_cache_shown(rf, path)}")  # pooch checked the sha256


def _verified_transcription(rf: RemoteFile) -> Path:
    path = transcription_path(rf)
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
    if path == transcription_path(entry(name)):
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
