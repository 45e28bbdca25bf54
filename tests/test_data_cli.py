"""`scalinglab data list` and `scalinglab data fetch`: what is pinned, and verified copies."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalinglab.cli import main as scalinglab_main
from scalinglab.data import published
from scalinglab.data.cli import human_size, main

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "mirror"


@pytest.fixture
def mirror(monkeypatch):
    if not (MIRROR / "MANIFEST.tsv").exists():
        pytest.skip("the published-data mirror is not present")
    monkeypatch.setenv("SCALINGLAB_DATA_MIRROR", str(MIRROR))
    return MIRROR


@pytest.fixture
def no_mirror(monkeypatch, tmp_path):
    monkeypatch.delenv("SCALINGLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SCALINGLAB_BUILD", str(tmp_path / "build"))


def test_list_shows_every_pinned_file_with_its_source_and_licence(mirror, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    reg = published.registry()
    assert out.splitlines()[0].startswith(f"{len(reg)} published files pinned in data/remote.yaml; "
                                          "read from the mirror")
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if not line.startswith(" ")}
    assert set(rows) == set(reg)
    rf = reg["epoch_chinchilla_runs"]
    row = rows["epoch_chinchilla_runs"]
    assert "23.2 kB" in row and rf.licence in row and " mirror " in row
    assert row.endswith(f"{rf.repo}@{rf.commit[:10]}:{rf.path}")
    assert f"    {rf.description}" in out


def test_list_says_what_is_local_without_a_mirror(no_mirror, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "downloaded once into" in out.splitlines()[0]
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if not line.startswith(" ")}
    assert " committed " in rows["bnsl_four_digit_addition"]      # the transcription
    assert " mirror only " in rows["porian_fit_results"]          # no public URL
    assert "  -  " in rows["epoch_chinchilla_runs"]               # fetch would download it


def test_list_json_has_every_field(mirror, capsys):
    assert main(["list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == len(published.registry())
    item = next(i for i in items if i["name"] == "epoch_chinchilla_runs")
    rf = published.entry("epoch_chinchilla_runs")
    assert item["sha256"] == rf.sha256 and item["bytes"] == rf.bytes and item["commit"] == rf.commit
    assert item["local"] == "mirror" and Path(item["local_path"]).is_file()


def test_fetch_prints_the_verified_copy_and_copies_it_on_request(mirror, tmp_path, capsys):
    assert main(["fetch", "epoch_chinchilla_runs"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == mirror / published.entry("epoch_chinchilla_runs").relative
    assert main(["fetch", "epoch_chinchilla_runs", "--output", str(tmp_path / "runs.csv")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "runs.csv")
    assert (tmp_path / "runs.csv").read_bytes() == path.read_bytes()
    assert main(["fetch", "epoch_chinchilla_runs", "-o", str(tmp_path)]) == 0  # a folder: its own name
    assert (tmp_path / "svg_extracted_data.csv").read_bytes() == path.read_bytes()
    assert main(["fetch", "epoch_chinchilla_runs", "-o", str(tmp_path / "runs.csv")]) == 0  # same bytes: fine
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err.strip()


def test_fetch_errors_are_one_line_and_lose_nothing(mirror, tmp_path, capsys):
    assert main(["fetch", "epoch_chinchila_runs"]) == 2
    assert _one_line(capsys) == ("scalinglab data: no published file is named 'epoch_chinchila_runs'; did "
                                 f"you mean epoch_chinchilla_runs? (`scalinglab data list` shows the "
                                 f"{len(published.registry())} pinned files)")
    mine = tmp_path / "runs.csv"
    mine.write_text("my own runs\n")
    assert main(["fetch", "epoch_chinchilla_runs", "-o", str(mine)]) == 2
    assert "exists and differs from the pinned file" in _one_line(capsys)
    assert mine.read_text() == "my own runs\n"  # kept
    assert main(["fetch", "epoch_chinchilla_runs", "-o", str(tmp_path / "no" / "x.csv")]) == 2
    assert "no folder" in _one_line(capsys)
    assert main(["fetch", "epoch_chinchilla_runs", "misfitting_gshard", "-o", str(tmp_path)]) == 2
    assert "--output takes one file" in _one_line(capsys)


def test_fetch_without_network_is_one_line(no_mirror, monkeypatch, capsys):
    import dataclasses
    rf = published.entry("epoch_chinchilla_runs")
    unreachable = dataclasses.replace(rf, url="http://127.0.0.1:9/none.csv")
    monkeypatch.setattr(published, "entry", lambda name: unreachable)
    assert main(["fetch", "epoch_chinchilla_runs"]) == 2
    err = _one_line(capsys)
    assert err.startswith("scalinglab data: epoch_chinchilla_runs: cannot download http://127.0.0.1:9/none.csv")
    assert "set SCALINGLAB_DATA_MIRROR" in err


def test_the_scalinglab_command_dispatches_data_and_prints_its_version(mirror, capsys):
    assert scalinglab_main(["data", "fetch", "bnsl_four_digit_addition"]) == 0
    assert capsys.readouterr().out.strip().endswith(published.entry("bnsl_four_digit_addition").relative)
    from scalinglab import __version__
    with pytest.raises(SystemExit) as done:
        scalinglab_main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"scalinglab {__version__}\n"


def test_the_version_is_written_once():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]


def test_a_closed_pipe_ends_the_listing_quietly(mirror):
    proc = subprocess.run(f"{sys.executable} -m scalinglab.cli data list | head -1", shell=True,
                          capture_output=True, text=True, env=os.environ)
    assert proc.stdout.startswith(f"{len(published.registry())} published files") and proc.stderr == ""


def test_human_size():
    assert [human_size(n) for n in (0, 999, 1000, 23224, 1133268, 5 * 10**9)] == [
        "0 B", "999 B", "1.0 kB", "23.2 kB", "1.1 MB", "5.0 GB"]
