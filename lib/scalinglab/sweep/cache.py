"""The run cache: one JSON record per training run, written atomically.

A run is identified by a key: the sha256 of the canonical JSON of its config, the
qualified name of the function that runs it and the versions of the code it depends on.
Its record lives at ``<cache_dir>/<namespace>/<key>.json``:

    {"schema": 1, "key": ..., "namespace": ..., "fn": "module:qualname",
     "versions": ..., "config": {...}, "metrics": {...}, "curve": {...} | null,
     "diverged": false, ...any other field the run function returned...,
     "checksum": sha256 of everything above,
     "meta": {"backend": ..., "host": ..., "duration_s": ..., ...}}

Everything except ``meta`` is a function of the inputs and the run's output, so the
same run gives the same record on every executor; ``meta`` (where and how long it ran)
is outside the checksum and left out of comparisons (:func:`record_identity`).

Writes go to a temporary file in the same folder, are flushed to disk and then renamed
over the final name (``os.replace`` is atomic on POSIX and Windows), so a reader sees
either no record or a complete one, however many workers write at once and wherever a
sweep is killed. A file that does not parse or whose checksum does not match (cut short
by a copy, edited by hand) is reported, moved aside and the run is done again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

from scalinglab.base.provenance import library_hash

SCHEMA = 1
KEY_LENGTH = 20  # hex digits of the sha256 kept in file names (80 bits)
RESERVED = ("schema", "key", "namespace", "fn", "versions", "config", "checksum", "meta")
NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
TMP_SUFFIX = ".tmp"
CORRUPT_DIR = "corrupt"


class CorruptRecord(ValueError):
    """A cache file exists but is not a complete, consistent record."""


# -- canonical values ---------------------------------------------------------------

def to_jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, tensors and tuples become
    Python numbers and lists; a DataFrame becomes a dict of columns. Anything else that
    JSON cannot hold is an error naming where it was found."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; JSON keys must be strings")
            out[k] = to_jsonable(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a pandas DataFrame
        return to_jsonable(value.to_dict(orient="list"), where)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return to_jsonable(value.tolist(), where)
    if hasattr(value, "item"):
        return to_jsonable(value.item(), where)
    raise TypeError(f"{where} = {value!r} ({type(value).__name__}) is not JSON-serialisable")


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, floats as their shortest repr.
    NaN and infinities are written as Python's json writes them (NaN, Infinity)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=True)


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nonfinite(v) for v in value)
    return False


def canonical_config(config: Any) -> dict:
    """A config as the plain JSON dict its key is computed from."""
    if not isinstance(config, Mapping):
        raise TypeError(f"a sweep config must be a dict, got {type(config).__name__}")
    plain = to_jsonable(config, "config")
    if _has_nonfinite(plain):
        raise ValueError(f"config {canonical_json(plain)} holds NaN or infinity; a run key needs finite values")
    return plain


def function_name(fn: Callable) -> str:
    """``module:qualname`` of a run function: part of every run key."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if module is None or qualname is None:
        raise TypeError(f"the run function {fn!r} needs a __module__ and a __qualname__")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ValueError(f"the run function {module}:{qualname} must be a top-level function "
                         "(a lambda or nested function cannot be sent to workers nor named stably)")
    return f"{module}:{qualname}"


def default_versions() -> dict[str, str]:
    """The code version a run depends on when none is given: the library source hash."""
    return {"scalinglab": library_hash()}


def run_key(config: Mapping, fn_name: str, versions: Any) -> str:
    payload = {"config": canonical_config(config), "fn": fn_name,
               "versions": to_jsonable(versions, "versions")}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:KEY_LENGTH]


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not NAMESPACE.match(namespace):
        raise ValueError(f"namespace={namespace!r} must be letters, digits, '_', '.', '-' "
                         "(and '/' between parts), e.g. 'kaplan2020_neural_lm/width'")
    return namespace


# -- records --------------------------------------------------------------------------

def _columns(curve: Any) -> dict[str, list]:
    """A learning curve as columns of equal length (given as columns or as rows)."""
    if isinstance(curve, list):  # rows
        names: list[str] = []
        for row in curve:
            if not isinstance(row, dict):
                raise TypeError("curve rows must be dicts, e.g. [{'step': 0, 'loss': 3.1}, ...]")
            names += [k for k in row if k not in names]
        return {name: [row.get(name) for row in curve] for name in names}
    if not isinstance(curve, dict):
        raise TypeError(f"curve must be a dict of columns or a list of rows, got {type(curve).__name__}")
    lengths = {}
    for name, column in curve.items():
        if not isinstance(column, list):
            raise TypeError(f"curve column {name!r} must be a list, got {type(column).__name__}")
        lengths[name] = len(column)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"curve columns have different lengths: {lengths}")
    return curve


def record_checksum(record: Mapping) -> str:
    body = {k: v for k, v in record.items() if k not in ("checksum", "meta")}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def build_record(*, key: str, namespace: str, fn_name: str, versions: Any, config: Mapping,
                 output: Any, meta: Mapping | None = None) -> dict:
    """The record of a finished run from what its function returned.

    ``output`` is a dict; its ``metrics`` and ``curve`` become the record's, and any
    other field is kept as is. A dict without ``metrics`` is taken as the metrics
    itself (less a ``curve`` entry). ``diverged`` is set when a metric is NaN or
    infinite (or when the function says so)."""
    if not isinstance(output, Mapping):
        raise TypeError(f"{fn_name} returned {type(output).__name__}; a run function must "
                        "return a dict such as {'metrics': {...}, 'curve': {...}}")
    out = to_jsonable(output, "output")
    clash = [k for k in out if k in RESERVED]
    if clash:
        raise ValueError(f"{fn_name} returned reserved field(s) {clash}; these names belong to the record")
    if "metrics" in out:
        metrics = out.pop("metrics")
    else:
        metrics = {k: v for k, v in out.items() if k not in ("curve", "diverged")}
        out = {k: v for k, v in out.items() if k in ("curve", "diverged")}
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict, got {type(metrics).__name__}")
    curve = out.pop("curve", None)
    if curve is not None:
        curve = _columns(curve)
    diverged = bool(out.pop("diverged", False)) or _has_nonfinite(metrics)
    record = {"schema": SCHEMA, "key": key, "namespace": namespace, "fn": fn_name,
              "versions": to_jsonable(versions, "versions"), "config": canonical_config(config),
              "metrics": metrics, "curve": curve, "diverged": diverged, **out}
    record["checksum"] = record_checksum(record)
    record["meta"] = dict(meta or {})
    return record


def record_identity(record: Mapping) -> str:
    """What two records of one run must agree on, whichever executor ran it: the
    record without its ``meta`` section, as canonical JSON."""
    return canonical_json({k: v for k, v in record.items() if k != "meta"})


def validate_record(record: Any, key: str | None = None) -> dict:
    """``record`` itself when it is complete and unaltered, else :class:`CorruptRecord`."""
    if not isinstance(record, dict):
        raise CorruptRecord(f"a record is a JSON object, found {type(record).__name__}")
    missing = [k for k in ("schema", "key", "fn", "versions", "config", "metrics", "checksum")
               if k not in record]
    if missing:
        raise CorruptRecord(f"fields missing: {', '.join(missing)}")
    if record["schema"] != SCHEMA:
        raise CorruptRecord(f"schema {record['schema']!r}, expected {SCHEMA}")
    if key is not None and record["key"] != key:
        raise CorruptRecord(f"record key {record['key']!r} does not match its file name {key!r}")
    if record_checksum(record) != record["checksum"]:
        raise CorruptRecord("checksum does not match the content (edited or cut short)")
    try:
        expected = run_key(record["config"], record["fn"], record["versions"])
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(f"config cannot be keyed: {exc}") from None
    if expected != record["key"]:
        raise CorruptRecord("key does not match the record's config, function and versions")
    return record


# -- files ----------------------------------------------------------------------------

_HOST = socket.gethostname().replace(".", "_")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers only ever see the old or the new file:
    a uniquely named temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunCache:
    """The folder of one namespace of the run cache."""

    def __init__(self, root: str | os.PathLike, namespace: str):
        self.root = Path(root)
        self.namespace = check_namespace(namespace)
        self.folder = self.root / namespace

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict | None:
        """The complete record of ``key``; None when there is none; CorruptRecord when a
        file is there but unusable."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptRecord(f"cannot read: {exc}") from None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise CorruptRecord(f"not valid JSON ({exc})") from None
        return validate_record(record, key)

    def has(self, key: str) -> bool:
        try:
            return self.load(key) is not None
        except CorruptRecord:
            return False

    def write(self, record: Mapping) -> Path:
        validate_record(dict(record))
        path = self.path(record["key"])
        write_atomic(path, canonical_json(record) + "\n")
        return path

    def quarantine(self, key: str) -> Path | None:
        """Move an unusable record aside (kept for inspection, never read again)."""
        path = self.path(key)
        if not path.exists():
            return None
        target = self.folder / CORRUPT_DIR / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:6]}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except FileNotFoundError:  # another process moved or replaced it first
            return None
        return target

    def keys(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if not p.name.startswith("."))

    def temporary_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f".*{TMP_SUFFIX}"))

    def remove_stale_temporaries(self, max_age_s: float = 24 * 3600) -> list[Path]:
        """Delete temporary files left by writers that were killed: those of this host
        whose process is gone, and any older than ``max_age_s``."""
        removed = []
        now = time.time()
        for tmp in self.temporary_files():
            parts = tmp.name[1:].split(".")  # key, host, pid, random, "tmp"
            stale = False
            try:
                if len(parts) == 5 and parts[1] == _HOST and not _pid_alive(int(parts[2])):
                    stale = True
                elif now - tmp.stat().st_mtime > max_age_s:
                    stale = True
            except (ValueError, OSError):
                continue
            if stale:
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed
