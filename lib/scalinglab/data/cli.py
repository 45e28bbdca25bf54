"""``scalinglab data``: the published files the registry pins, and verified local copies.

    scalinglab data list [--json]                  every pinned file: name, size, licence,
                                                   source repository@commit:path, what it holds
    scalinglab data fetch NAME [NAME ...]          a verified local copy of each; prints its path
    scalinglab data fetch NAME --output FILE|DIR   ... and copies it there

A copy comes from ``$SCALINGLAB_DATA_MIRROR`` when it is set, else from the committed
transcription or the download cache (downloaded once from the pinned URL); every copy is
checked against the pinned size and sha256 (:mod:`scalinglab.data.published`). Errors are
one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import difflib
import filecmp
import json
import os
import shutil
import sys
from pathlib import Path

from scalinglab.base import paths
from scalinglab.data import published
from scalinglab.data.published import PublishedDataError, RemoteFile


class DataCommandError(ValueError):
    """A wrong name or output path: one line, exit status 2."""


def human_size(n: int) -> str:
    """Bytes as a person reads them: 812 B, 22.7 kB, 1.1 MB (powers of 1000)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _path_in_repo(rf: RemoteFile) -> str:
    """The file's path in its repository (or the source file a derived table was read out of)."""
    return rf.path or rf.source_path or rf.mirror_path


def source_of(rf: RemoteFile) -> str:
    """``owner/repo@commit10:path`` of the file."""
    return f"{rf.repo}@{rf.commit[:10]}:{_path_in_repo(rf)}"


def local_state(rf: RemoteFile) -> str:
    """Where ``fetch`` would read ``rf`` now, without reading it: ``mirror``, ``cached``
    (a download), ``committed`` (a transcription shipped with scalinglab), ``-`` (not
    fetched yet: ``fetch`` downloads it) or ``mirror only`` (no public URL; only a
    mirror holds it)."""
    if published.local_copy(rf) is not None:
        if published.mirror_root() is not None:
            return "mirror"
        return "committed" if not rf.url and rf.transcription else "cached"
    if published.mirror_root() is not None:
        return "not in mirror"
    return "-" if rf.url else "mirror only"


def _where_bytes_come_from() -> str:
    mirror = published.mirror_root()
    if mirror is not None:
        return f"read from the mirror ${published.MIRROR_ENV}={os.environ[published.MIRROR_ENV]}"
    cache = published.cache_root()
    shown = str(cache)
    if os.environ.get(published.CACHE_ENV, "").strip():
        shown = f"${published.CACHE_ENV} ({cache})"
    else:
        try:
            shown = "~/" + str(cache.relative_to(Path.home()))
        except (ValueError, RuntimeError):
            pass
    return f"downloaded once into {shown}"


def _registry_shown() -> str:
    path = published.registry_path()
    if paths.checkout_root() is not None:
        return paths.display_path(path)
    return "the registry built into this package"


def list_files(as_json: bool = False, out=None) -> int:
    out = out or sys.stdout
    reg = published.registry()
    rows = [reg[name] for name in sorted(reg)]
    if as_json:
        items = []
        for rf in rows:
            local = published.local_copy(rf)
            items.append({
                "name": rf.name, "repo": rf.repo, "commit": rf.commit,
                "path": _path_in_repo(rf), "url": rf.url,
                "licence": rf.licence, "bytes": rf.bytes, "sha256": rf.sha256,
                "description": rf.description, "local": local_state(rf),
                "local_path": str(local) if local is not None else None,
            })
        json.dump(items, out, indent=1)
        out.write("\n")
        return 0
    name_w = max(len(rf.name) for rf in rows)
    licence_w = max(len(rf.licence) for rf in rows)
    states = {rf.name: local_state(rf) for rf in rows}
    state_w = max(5, *(len(s) for s in states.values()))
    print(f"{len(rows)} published files pinned in {_registry_shown()}; "
          f"{_where_bytes_come_from()}, each checked against its sha256 when read", file=out)
    print(f"{'NAME':<{name_w}}  {'SIZE':>8}  {'LICENCE':<{licence_w}}  {'LOCAL':<{state_w}}  SOURCE", file=out)
    for rf in rows:
        print(f"{rf.name:<{name_w}}  {human_size(rf.bytes):>8}  {rf.licence:<{licence_w}}  "
              f"{states[rf.name]:<{state_w}}  {source_of(rf)}", file=out)
        if rf.description:
            print(f"    {rf.description}", file=out)
    return 0


def _check_name(name: str, known: list[str]) -> None:
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise DataCommandError(f"no published file is named {name!r}{hint} "
                           f"(`scalinglab data list` shows the {len(known)} pinned files)")


def _copy_to(source: Path, output: Path) -> Path:
    """Copy the verified ``source`` to ``output`` (a folder gets the file's own name),
    through a temporary file moved into place; an existing different file is kept and
    refused."""
    target = output / source.name if output.is_dir() else output
    if target.exists():
        if filecmp.cmp(target, source, shallow=False):
            return target
        raise DataCommandError(f"{target} exists and differs from the pinned file; remove it or "
                               "name another --output")
    if not target.parent.is_dir():
        raise DataCommandError(f"cannot write {target}: no folder {target.parent}")
    tmp = target.parent / f".{target.name}.{os.getpid()}.part"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataCommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def fetch_files(names: list[str], output: str | None = None, out=None) -> int:
    out = out or sys.stdout
    known = sorted(published.registry())
    for name in names:
        _check_name(name, known)
    if output is not None and len(names) != 1:
        raise DataCommandError("--output takes one file; fetch the others without it")
    for name in names:
        path = published.fetch(name)
        if output is not None:
            path = _copy_to(path, Path(output).expanduser())
        print(path, file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalinglab data",
        description="Published files from other repositories, pinned by commit, size and sha256.")
    sub = parser.add_subparsers(dest="action", required=True)
    lst = sub.add_parser("list", help="every pinned file: name, size, licence, local copy, "
                         "source repository@commit:path and what it holds")
    lst.add_argument("--json", action="store_true", help="one JSON object per file, every field")
    fet = sub.add_parser("fetch", help="a verified local copy of each named file; prints its path")
    fet.add_argument("names", nargs="+", metavar="NAME", help="a name from `scalinglab data list`")
    fet.add_argument("--output", "-o", metavar="PATH",
                     help="also copy the (one) file to PATH, a file or an existing folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.action == "list":
            return list_files(as_json=args.json)
        return fetch_files(args.names, output=args.output)
    except (PublishedDataError, DataCommandError) as exc:
        print(f"scalinglab data: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from scalinglab.fit.cli import quiet_on_closed_pipe
    sys.exit(quiet_on_closed_pipe(main))
