"""The pinned-remote registry: entries, mirror reads, downloads and refusals."""
from __future__ import annotations

import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from scalinglab.data import published
from scalinglab.data.published import PublishedDataError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mirror(monkeypatch):
    import os
    if not os.environ.get("SCALINGLAB_DATA_MIRROR"):
        monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", "../shared/mirror")
    root = published.mirror_root()
    if not (root / "MANIFEST.tsv").exists():
        pytest.skip("the published-data mirror is not present")
    return root


def test_registry_entries_are_complete_and_pinned():
    reg = published.registry()
    assert "epoch_chinchilla_runs" in reg and "misfitting_checkpoints" in reg
    assert "bnsl_four_digit_addition" in reg
    for rf in reg.values():
        assert len(rf.sha256) == 64 and rf.bytes > 0 and len(rf.commit) == 40
        assert rf.licence and rf.description
        if rf.url:
            assert rf.url == f"https://raw.githubusercontent.com/{rf.repo}/{rf.commit}/{rf.path}"
        else:
            assert rf.mirror_path and rf.source_url


def test_no_registry_file_is_committed_into_the_repository():
    hashes = {rf.sha256 for rf in published.registry().values()}
    for path in (ROOT / "data").rglob("*"):
        if path.is_file() and path.name != "remote.yaml":
            assert hashlib.sha256(path.read_bytes()).hexdigest() not in hashes, path


def test_every_entry_loads_from_the_mirror(mirror):
    for name in published.registry():
        assert published.fetch(name).exists()
    df = published.load_csv("bnsl_four_digit_addition")
    assert len(df) == 17 and list(df.split).count("fit") == 14


def test_relative_mirror_is_taken_from_the_project_root(monkeypatch, mirror, tmp_path):
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", "../shared/mirror")
    monkeypatch.chdir(tmp_path)
    assert published.fetch("epoch_chinchilla_runs").exists()


def _fake_registry(tmp_path, monkeypatch, payload: bytes, **extra):
    entry = {"name": "toy", "url": "https://raw.githubusercontent.com/o/r/" + "a" * 40 + "/t.csv",
             "repo": "o/r", "commit": "a" * 40, "path": "t.csv",
             "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
             "licence": "MIT", "description": "toy", **extra}
    reg = tmp_path / "remote.yaml"
    reg.write_text(yaml.safe_dump({"files": [entry]}))
    monkeypatch.setattr(published, "registry_path", lambda: reg)
    return entry


def test_tampered_and_truncated_mirror_files_are_refused(tmp_path, monkeypatch):
    payload = b"x,y\n1,2\n3,4\n"
    entry = _fake_registry(tmp_path, monkeypatch, payload)
    mirror = tmp_path / "mirror"
    target = mirror / "github" / "o" / "r" / entry["commit"] / "t.csv"
    target.parent.mkdir(parents=True)
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(mirror))
    target.write_bytes(payload)
    assert published.load_csv("toy").shape == (2, 2)
    target.write_bytes(payload.replace(b"3", b"9"))  # same size, other bytes
    with pytest.raises(PublishedDataError) as err:
        published.fetch("toy")
    msg = str(err.value)
    assert msg.startswith("toy: ") and "\n" not in msg and "sha256 differs" in msg
    assert f"expected sha256 {entry['sha256'][:12]} ({len(payload)} bytes)" in msg
    assert f"got {hashlib.sha256(target.read_bytes()).hexdigest()[:12]} ({len(payload)} bytes)" in msg
    assert "the mirror copy is left as it is and not used" in msg and target.exists()
    target.write_bytes(payload[:-3])  # truncated
    with pytest.raises(PublishedDataError, match="size and sha256 differ"):
        published.fetch("toy")
    assert target.exists()  # a mirror is never changed
    target.unlink()
    with pytest.raises(PublishedDataError, match="not in the mirror"):
        published.fetch("toy")


def test_unknown_name_and_mirror_only_entries(monkeypatch):
    with pytest.raises(PublishedDataError, match="unknown published file"):
        published.fetch("nope")
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    import dataclasses
    mirror_only = dataclasses.replace(published.entry("bnsl_four_digit_addition"), transcription=None)
    monkeypatch.setattr(published, "entry", lambda name: mirror_only)
    with pytest.raises(PublishedDataError, match="has no public URL"):
        published.fetch("bnsl_four_digit_addition")


def test_bnsl_transcription_matches_the_pinned_file_and_is_used_without_a_mirror(monkeypatch):
    import pandas as pd
    with_mirror = published.load_csv("bnsl_four_digit_addition")
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    without = published.load_csv("bnsl_four_digit_addition")
    pd.testing.assert_frame_equal(with_mirror, without)
    assert len(without) == 17 and (without["split"] == "extrapolate").sum() == 3


def test_an_altered_transcription_is_refused(monkeypatch, tmp_path):
    import dataclasses
    rf = published.entry("bnsl_four_digit_addition")
    copy = tmp_path / "altered.csv"
    copy.write_text((published.paths.project_root() / rf.transcription).read_text().replace("2.13809046", "2.2"))
    altered = dataclasses.replace(rf, transcription=str(copy))
    with pytest.raises(published.PublishedDataError, match="sha256"):
        published._verified_transcription(altered)


def test_local_copy_is_the_file_fetch_would_read(tmp_path, monkeypatch):
    payload = b"x,y\n1,2\n"
    entry = _fake_registry(tmp_path, monkeypatch, payload)
    rf = published.entry("toy")
    monkeypatch.setenv("SCALINGLAB_BUILD", str(tmp_path / "build"))
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    assert published.local_copy(rf) is None  # not downloaded yet
    cached = tmp_path / "build" / "data" / "github" / "o" / "r" / entry["commit"] / "t.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"anything")  # present, not checked
    assert published.local_copy(rf) == cached
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(tmp_path / "mirror"))
    assert published.local_copy(rf) is None
    mirrored = tmp_path / "mirror" / rf.relative
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(payload)
    assert published.local_copy(rf) == mirrored


# Downloads (through pooch), served by a local HTTP server: no real network in tests.

class _Served(http.server.ThreadingHTTPServer):
    """Serves ``routes`` (path -> bytes, or (bytes, claimed Content-Length)) and counts GETs."""
    daemon_threads = True

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805
                self.hits.append(handler.path)
                body = self.routes.get(handler.path)
                if body is None:
                    handler.send_error(404)
                    return
                body, length = body if isinstance(body, tuple) else (body, len(body))
                handler.send_response(200)
                handler.send_header("Content-Length", str(length))
                handler.end_headers()
                handler.wfile.write(body)
                handler.close_connection = True

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = _Served()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


PAYLOAD = b"x,y\n1,2\n3,4\n"


@pytest.fixture
def served_toy(server, tmp_path, monkeypatch):
    """The toy entry pinned to PAYLOAD, its URL on the local server, no mirror, a
    build folder of its own; returns (server, entry, the cache path)."""
    entry = _fake_registry(tmp_path, monkeypatch, PAYLOAD, url=server.url("/t.csv"))
    server.routes["/t.csv"] = PAYLOAD
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SCALINGLAB_BUILD", str(tmp_path / "build"))
    cached = tmp_path / "build" / "data" / "github" / "o" / "r" / entry["commit"] / "t.csv"
    return server, entry, cached


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _one_line_error(name: str = "toy") -> str:
    with pytest.raises(PublishedDataError) as err:
        published.fetch(name)
    msg = str(err.value)
    assert msg.startswith(f"{name}: ") and "\n" not in msg and "Traceback" not in msg, msg
    # requests' exceptions stay out of what the user sees
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)
    return msg


def test_a_download_lands_in_the_cache_and_is_reused(served_toy, tmp_path, capfd):
    server, entry, cached = served_toy
    assert published.fetch("toy") == cached and cached.read_bytes() == PAYLOAD
    assert server.hits == ["/t.csv"]
    assert _files(tmp_path / "build") == [cached]  # no temporary file left beside it
    server.routes["/t.csv"] = b"x,y\n6,6\n9,9\n"  # the cached, verified copy is used from now on
    assert published.fetch("toy").read_bytes() == PAYLOAD
    assert published.load_csv("toy").shape == (2, 2)
    assert server.hits == ["/t.csv"]  # no second request
    assert published.local_copy(published.entry("toy")) == cached
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no progress bar, no pooch log lines


def test_a_tampered_download_is_refused_and_nothing_is_kept(served_toy, tmp_path):
    server, entry, cached = served_toy
    bad = PAYLOAD.replace(b"3", b"9")  # same size, other bytes
    server.routes["/t.csv"] = bad
    msg = _one_line_error()
    assert msg == (f"toy: the download from {entry['url']} does not match its pin (sha256 differs; "
                   f"truncated or modified?): expected sha256 {entry['sha256'][:12]} ({len(PAYLOAD)} bytes), "
                   f"got {hashlib.sha256(bad).hexdigest()[:12]} ({len(bad)} bytes); it was deleted, nothing "
                   "was kept in the cache")
    assert _files(tmp_path / "build") == []
    server.routes["/t.csv"] = PAYLOAD  # the next call downloads it afresh
    assert published.fetch("toy").read_bytes() == PAYLOAD and len(server.hits) == 2


def test_a_truncated_download_is_refused_and_nothing_is_kept(served_toy, tmp_path):
    server, entry, cached = served_toy
    server.routes["/t.csv"] = PAYLOAD[:-4]  # a short file, served whole
    msg = _one_line_error()
    assert "the download from" in msg and "(size and sha256 differ; truncated or modified?)" in msg
    assert f"got {hashlib.sha256(PAYLOAD[:-4]).hexdigest()[:12]} ({len(PAYLOAD) - 4} bytes)" in msg
    assert _files(tmp_path / "build") == []
    server.routes["/t.csv"] = (PAYLOAD[:-4], len(PAYLOAD))  # the connection drops part way
    msg = _one_line_error()
    assert msg.startswith(f"toy: cannot download {entry['url']}: connection closed early")
    assert _files(tmp_path / "build") == []


def test_an_altered_cached_copy_is_refused_removed_and_downloaded_again(served_toy):
    server, entry, cached = served_toy
    published.fetch("toy")
    cached.write_bytes(PAYLOAD[:-1])
    msg = _one_line_error()
    shown = f"$SCALINGLAB_BUILD/data/github/o/r/{entry['commit']}/t.csv"  # no folder of this machine
    assert msg.startswith(f"toy: the cached copy {shown} does not match its pin (size and sha256 differ")
    assert msg.endswith("the cached copy was removed and not used; fetch again to download it afresh")
    assert not cached.exists() and server.hits == ["/t.csv"]
    assert published.fetch("toy").read_bytes() == PAYLOAD and server.hits == ["/t.csv", "/t.csv"]


def test_no_network_is_one_line_that_says_how_to_use_a_local_copy(served_toy, tmp_path, monkeypatch):
    server, entry, cached = served_toy
    with socket.socket() as s:  # a local port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/t.csv"
    _fake_registry(tmp_path, monkeypatch, PAYLOAD, url=url)
    msg = _one_line_error()
    assert msg == (f"toy: cannot download {url}: Connection refused; set SCALINGLAB_DATA_MIRROR to a "
                   f"folder holding github/o/r/{entry['commit']}/t.csv (layout: data/published/README.md), "
                   "or connect and try again")
    assert _files(tmp_path / "build") == []
    _fake_registry(tmp_path, monkeypatch, PAYLOAD, url=server.url("/gone.csv"))
    assert "cannot download http://127.0.0.1:" in (msg := _one_line_error()) and ": HTTP 404 Not Found; " in msg
    assert _files(tmp_path / "build") == []


def test_the_mirror_wins_over_the_download_and_is_hash_checked(served_toy, tmp_path, monkeypatch):
    server, entry, cached = served_toy
    mirror = tmp_path / "mirror"
    target = mirror / "github" / "o" / "r" / entry["commit"] / "t.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(PAYLOAD)
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(mirror))
    assert published.fetch("toy") == target and published.load_csv("toy").shape == (2, 2)
    target.write_bytes(PAYLOAD.replace(b"3", b"9"))
    msg = _one_line_error()
    assert msg.startswith(f"toy: $SCALINGLAB_DATA_MIRROR/github/o/r/{entry['commit']}/t.csv does not match its pin "
                          "(sha256 differs;") and msg.endswith("; the mirror copy is left as it is and not used")
    assert target.exists() and server.hits == []  # never downloaded, never copied
    assert _files(tmp_path / "build") == []


def test_importing_the_module_does_not_import_pooch():
    code = ("import sys, scalinglab.data, scalinglab.data.published; "
            "print(sorted(m for m in ('pooch', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_is_parsed_once_and_reread_when_edited(tmp_path):
    from scalinglab.data import published
    reg = tmp_path / "remote.yaml"
    entry = ("files:\n  - name: {name}\n    repo: o/r\n    commit: abc\n    path: f.csv\n"
             "    url: https://example.org/f.csv\n    sha256: '00'\n    bytes: 1\n    licence: MIT\n")
    reg.write_text(entry.format(name="a"))
    first = published.registry(reg)
    assert list(first) == ["a"] and published.registry(reg) == first
    first.pop("a")                       # a caller's copy: the cache is untouched
    assert list(published.registry(reg)) == ["a"]
    import os
    reg.write_text(entry.format(name="b"))
    os.utime(reg, ns=(1, 10**18))        # a different mtime, whatever the clock's resolution
    assert list(published.registry(reg)) == ["b"]


# An installed package (a wheel): no checkout, the registry built into the package, and
# downloads in the per-user cache.

@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The library as a wheel installs it: no checkout, a bundled copy of data/, and a
    home folder of its own (where the per-user cache lives)."""
    bundled = tmp_path / "bundled"
    (bundled / "data" / "published").mkdir(parents=True)
    (bundled / "data" / "remote.yaml").write_bytes((ROOT / "data" / "remote.yaml").read_bytes())
    for path in (ROOT / "data" / "published").iterdir():
        (bundled / "data" / "published" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(published.paths, "checkout_root", lambda: None)
    monkeypatch.setattr(published, "BUNDLED_ROOT", bundled)
    for var in ("SCALINGLAB_ROOT", "SCALINGLAB_BUILD", "SCALINGLAB_DATA_CACHE", "SCALINGLAB_DATA_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.chdir(tmp_path)
    return bundled


def test_an_installed_package_reads_the_registry_built_into_it(installed):
    assert published.registry_path() == installed / "data" / "remote.yaml"
    assert set(published.registry()) == set(published.registry(ROOT / "data" / "remote.yaml"))
    # the committed transcription travels too, and is checked against its pin
    rf = published.entry("bnsl_four_digit_addition")
    assert published.fetch(rf.name) == installed / rf.transcription
    assert published.load_csv(rf.name).shape == (17, 3)


def test_an_installed_package_built_without_its_registry_says_so(installed):
    (installed / "data" / "remote.yaml").unlink()
    with pytest.raises(PublishedDataError, match="built without its registry"):
        published.registry()


def test_an_installed_package_downloads_into_the_per_user_cache(installed, server, tmp_path, monkeypatch):
    entry = _fake_registry(tmp_path, monkeypatch, PAYLOAD, url=server.url("/t.csv"))
    server.routes["/t.csv"] = PAYLOAD
    cached = tmp_path / "xdg-cache" / "scalinglab" / "data" / "github" / "o" / "r" / entry["commit"] / "t.csv"
    assert published.cache_root() == tmp_path / "xdg-cache" / "scalinglab" / "data"
    assert published.fetch("toy") == cached and cached.read_bytes() == PAYLOAD
    assert not (tmp_path / "build").exists()  # nothing lands in the working folder
    cached.write_bytes(PAYLOAD.replace(b"3", b"9"))  # altered since: refused and removed
    monkeypatch.setenv("HOME", str(tmp_path))
    msg = _one_line_error()
    assert f"the cached copy ~/xdg-cache/scalinglab/data/github/o/r/{entry['commit']}/t.csv" in msg
    assert not cached.exists() and published.fetch("toy") == cached and server.hits == ["/t.csv"] * 2


def test_the_data_cache_variable_overrides_the_cache_folder(installed, server, tmp_path, monkeypatch):
    entry = _fake_registry(tmp_path, monkeypatch, PAYLOAD, url=server.url("/t.csv"))
    server.routes["/t.csv"] = PAYLOAD
    monkeypatch.setenv("SCALINGLAB_DATA_CACHE", "mine")  # relative: from the working folder
    cached = tmp_path / "mine" / "github" / "o" / "r" / entry["commit"] / "t.csv"
    assert published.fetch("toy") == cached
    cached.write_bytes(b"x")
    assert f"the cached copy $SCALINGLAB_DATA_CACHE/github/o/r/{entry['commit']}/t.csv" in _one_line_error()
    # inside a checkout too, the variable wins over build/data
    monkeypatch.setattr(published.paths, "checkout_root", lambda: tmp_path)
    assert published.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("SCALINGLAB_DATA_CACHE")
    assert published.cache_root() == tmp_path / "build" / "data"


def test_an_installed_package_reads_the_mirror(installed, monkeypatch):
    mirror = ROOT.parent / "shared" / "mirror"
    if not (mirror / "MANIFEST.tsv").exists():
        pytest.skip("the published-data mirror is not present")
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(mirror))
    assert published.load_csv("epoch_chinchilla_runs").shape == (245, 7)
