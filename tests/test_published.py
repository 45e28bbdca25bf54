"""The pinned-remote registry: entries, mirror reads, downloads and refusals."""
from __future__ import annotations

import hashlib
import shutil
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
    assert "toy" in msg and entry["sha256"] in msg
    assert hashlib.sha256(target.read_bytes()).hexdigest() in msg
    target.write_bytes(payload[:-3])  # truncated
    with pytest.raises(PublishedDataError, match="size and sha256 differ"):
        published.fetch("toy")
    target.unlink()
    with pytest.raises(PublishedDataError, match="not in the mirror"):
        published.fetch("toy")


def test_download_goes_to_the_cache_verified_and_atomic(tmp_path, monkeypatch):
    payload = b"x,y\n1,2\n"
    src = tmp_path / "served.csv"
    src.write_bytes(payload)
    _fake_registry(tmp_path, monkeypatch, payload, url=src.as_uri())  # urllib reads file:// URLs
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SCALINGLAB_BUILD", str(tmp_path / "build"))
    path = published.fetch("toy")
    assert path.read_bytes() == payload and str(path).startswith(str(tmp_path / "build" / "data"))
    src.write_bytes(b"x,y\n6,6\n")  # the cached, verified copy is used from now on
    assert published.fetch("toy").read_bytes() == payload
    # a download that does not match is refused and leaves nothing behind
    shutil.rmtree(tmp_path / "build")
    with pytest.raises(PublishedDataError, match="does not match its pin"):
        published.fetch("toy")
    assert not any(p.is_file() for p in (tmp_path / "build").rglob("*"))


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


def test_a_failed_download_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    # no mirror and no network: the one-line error names SCALINGLAB_DATA_MIRROR and its layout
    _fake_registry(tmp_path, monkeypatch, b"x,y\n1,2\n", url=(tmp_path / "unreachable.csv").as_uri())
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SCALINGLAB_BUILD", str(tmp_path / "build"))
    with pytest.raises(PublishedDataError) as err:
        published.fetch("toy")
    msg = str(err.value)
    assert msg.startswith("toy: could not download file://") and "No such file" in msg
    assert "set SCALINGLAB_DATA_MIRROR to a folder laid out as github/<owner>/<repo>/<commit>/<path>" in msg
    assert "data/published/README.md" in msg and "\n" not in msg


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
